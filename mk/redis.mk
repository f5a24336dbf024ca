# The Redis store across the CLI, C and PHP, against a redis-server started
# by the test (tests/redis/run.sh).

.PHONY: test-redis
test-redis: deps ## the Redis store across CLI, C and PHP on a real redis-server
	$(CARGO) build -p wxtoken-cli -p wxtoken-ffi -p wxtoken-php -p wechat-mock
	@$(MAKE) --no-print-directory ffi-links
	bash tests/redis/run.sh

# Redis as production runs it: TLS with a private CA, Sentinel failover and a
# Cluster resharding, all started by the test (tests/redis/ha.sh).
.PHONY: test-redis-ha
test-redis-ha: deps ## Redis over TLS, under Sentinel and as a Cluster, across CLI, C, PHP and the daemon
	$(CARGO) build -p wxtoken-cli -p wxtoken-ffi -p wxtoken-php -p wechat-mock
	@$(MAKE) --no-print-directory ffi-links
	bash tests/redis/ha.sh
