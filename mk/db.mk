# The database store (MariaDB and PostgreSQL) across CLI, C and PHP, against
# servers started by the test on loopback (tests/db/run.sh).

.PHONY: test-db
test-db: deps ## the database store across CLI, C and PHP on real MariaDB and PostgreSQL servers
	$(CARGO) build -p wxtoken-cli -p wxtoken-ffi -p wxtoken-php -p wechat-mock
	$(CARGO) test -p wxtoken --test db_store --no-run
	@$(MAKE) --no-print-directory ffi-links
	bash tests/db/run.sh
