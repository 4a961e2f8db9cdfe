#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS seconds each (default 60), one after the
# other, with the nightly toolchain (`rustup toolchain install nightly` and
# `cargo install cargo-fuzz` once). New inputs go to fuzz/corpus/TARGET (not committed);
# the committed seeds are read from fuzz/seeds/TARGET. A crash stops the run and leaves
# its input in fuzz/artifacts/TARGET: copy it into fuzz/seeds/TARGET (named
# crash-WHAT) once fixed, and tests/fuzz_corpus.rs replays it on stable from then on.
# ONLY=a,b limits the targets.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${SECONDS_EACH:-${1:-60}}"
targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^slagboom-fuzz$')
if [ -n "${ONLY:-}" ]; then
  targets=$(echo "$ONLY" | tr ',' '\n')
fi
# The block-page CA with its key, made fresh (keys are never committed).
mkdir -p fuzz/corpus/block_ca
if [ ! -f fuzz/corpus/block_ca/made-here.pem ]; then
  tmp=$(mktemp -d)
  cargo run -q -- ca init -c slagboom.toml --dir "$tmp" >/dev/null 2>&1
  { echo www.tiktok.com; cat "$tmp/ca.pem" "$tmp/ca-key.pem"; } > fuzz/corpus/block_ca/made-here.pem
  rm -rf "$tmp"
fi
for t in $targets; do
  mkdir -p "fuzz/corpus/$t"
  echo "== fuzzing $t for ${seconds}s"
  cargo +nightly fuzz run "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
    -max_total_time="$seconds" -print_final_stats=1 2>&1 \
    | grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss|==[0-9]+==|SUMMARY|Done)' || true
  if ls "fuzz/artifacts/$t"/crash-* >/dev/null 2>&1; then
    echo "crash in $t: see fuzz/artifacts/$t"
    exit 1
  fi
done
