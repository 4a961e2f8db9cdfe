# One command runner. `make check` is what CI runs (.ci/run) and what README.md calls
# the test command: test dependencies (Debian packages, installed when missing),
# formatting, lints, benchmark smoke runs, then the whole test suite.

CARGO ?= cargo

.PHONY: check deps fmt lint test bench-smoke bench run

check: deps fmt lint bench-smoke test

deps:
	scripts/test-deps.sh

fmt:
	$(CARGO) fmt --all -- --check

lint:
	$(CARGO) clippy --all-targets --locked -- -D warnings

# Each criterion benchmark runs once, unoptimised, so a broken bench fails here.
bench-smoke:
	$(CARGO) test --benches --locked

# The whole suite; nextest prints one summary at the end when it is installed.
test:
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		$(CARGO) nextest run --locked --no-fail-fast; \
	else \
		$(CARGO) test --locked --no-fail-fast; \
	fi

bench:
	$(CARGO) bench

run:
	$(CARGO) run --release -- run
