# WeCom apps across CLI and PHP processes (tests/wecom/run.sh).

.PHONY: test-wecom
test-wecom: deps ## WeCom: herd on one app, two apps of one corp, a wrong secret, corp and agent tickets
	$(CARGO) build -p wxtoken-cli -p wxtoken-php -p wechat-mock
	bash tests/wecom/run.sh
