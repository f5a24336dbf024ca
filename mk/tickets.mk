# The JS-SDK tickets across CLI and PHP processes (tests/tickets/run.sh).

.PHONY: test-tickets
test-tickets: deps ## jsapi tickets: herd, signatures checked in Python, revoked token, failing endpoint
	$(CARGO) build -p wxtoken-cli -p wxtoken-php -p wechat-mock
	bash tests/tickets/run.sh
