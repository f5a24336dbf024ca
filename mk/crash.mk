# A refresh killed at each of its steps, and a storm of SIGKILLs
# (tests/crash/run.sh).

.PHONY: test-crash
test-crash: deps ## herds on an expired cache, and refreshes killed at every write, fsync and rename
	$(CARGO) build -p wxtoken-cli -p wxtoken-ffi -p wxtoken-php -p wechat-mock
	@$(MAKE) --no-print-directory ffi-links
	bash tests/crash/run.sh
