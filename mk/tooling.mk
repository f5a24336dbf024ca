# The project's own tooling: make help, and the README's generated settings table.
.PHONY: test-tooling
test-tooling: ## the project's own tooling: make help lists every target
	bash tests/tooling/run.sh

.PHONY: readme
readme: ## rewrite README.md's settings table from the core's settings table
	WXTOKEN_WRITE_README=1 $(CARGO) test -q -p wxtoken --test readme
