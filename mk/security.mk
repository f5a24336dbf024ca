# Hostile files and inputs against the CLI and the PHP extension, as root
# and as two unprivileged users (tests/security/run.sh, SECURITY.md).

.PHONY: test-security
test-security: deps ## hostile files and inputs against the CLI and PHP, as two users
	$(CARGO) build -p wxtoken-cli -p wxtoken-php -p wechat-mock
	bash tests/security/run.sh

