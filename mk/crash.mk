# A refresh killed at each of its steps, and a storm of SIGKILLs
# (tests/crash/run.sh).

.PHONY: test-crash
test-crash: deps ## refreshes killed by SIGKILL at every write, fsync and rename
	$(CARGO) build -p wxtoken-cli -p wxtoken-php -p wechat-mock
	bash tests/crash/run.sh
