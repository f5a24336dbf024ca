# The project's own tooling: make help, the benchmarks still build, and no
# suite or benchmark leaves a process running or a file in the checkout
# (which runs the servers' parts of test-php, test-fpm and bench: hence the
# builds); and the README's generated settings table.
.PHONY: test-tooling
test-tooling: deps ## the project's own tooling: make help, benchmarks build, no suite leaks processes or files
	$(CARGO) build -p wxtoken-php -p wechat-mock
	WX_TARGET=$(DEBUG) bash tests/tooling/run.sh

.PHONY: readme
readme: ## rewrite README.md's settings table from the core's settings table
	WXTOKEN_WRITE_README=1 $(CARGO) test -q -p wxtoken --test readme
