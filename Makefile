# One command runner. `make check` is what CI runs (.ci/run) and what README.md calls
# the test command: test dependencies (Debian packages, installed when missing),
# formatting, lints, benchmark smoke runs, then the whole test suite.

CARGO ?= cargo

.PHONY: check deps fmt lint test policy-test bench-smoke compare-smoke bench compare run fuzz

check: deps fmt lint bench-smoke policy-test test compare-smoke

deps:
	scripts/test-deps.sh

fmt:
	$(CARGO) fmt --all -- --check

lint:
	$(CARGO) clippy --all-targets --locked -- -D warnings

# Each criterion benchmark runs once, unoptimised, so a broken bench fails here.
bench-smoke:
	$(CARGO) test --benches --locked

# The demo's policy tests (rules/tests): every authority's dates, each coverage,
# retired devices, and what must stay allowed.
policy-test:
	$(CARGO) run --locked -q -- test

# The whole suite; nextest prints one summary at the end when it is installed.
test:
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		$(CARGO) nextest run --locked --no-fail-fast; \
	else \
		$(CARGO) test --locked --no-fail-fast; \
	fi

# bench/compare.sh end to end on a debug build, briefly: the script, its Squid and nginx,
# and the scenarios of the project's own load generator keep working. Its figures mean
# nothing; `make compare` measures.
compare-smoke:
	BIG_SIZE=64M bench/compare.sh --build debug --only blocked,bulk,idle --duration 1 --idle 200

bench:
	$(CARGO) bench

compare:
	bench/compare.sh

run:
	$(CARGO) run --release -- run

# Every cargo-fuzz target for SECONDS seconds each (nightly and cargo-fuzz needed);
# CI replays the seeds and kept regressions on stable instead (tests/fuzz_corpus.rs).
SECONDS ?= 60
fuzz:
	SECONDS_EACH=$(SECONDS) scripts/fuzz.sh
