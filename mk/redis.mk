# The Redis store across the CLI, C and PHP, against a redis-server started
# by the test (tests/redis/run.sh).

.PHONY: test-redis
test-redis: deps ## the Redis store across CLI, C and PHP on a real redis-server
	$(CARGO) build -p wxtoken-cli -p wxtoken-ffi -p wxtoken-php -p wechat-mock
	@$(MAKE) --no-print-directory ffi-links
	bash tests/redis/run.sh
