#!/usr/bin/env bash
# A short run of every fuzz target, as CI does it: `bash fuzz/smoke.sh [SECONDS]` (default 10).
#
# It builds the targets the way `cargo fuzz build -s none --dev` does (libFuzzer's coverage
# instrumentation, `--cfg fuzzing`, debug assertions, for the host triple so that build scripts
# stay uninstrumented) but with cargo itself: cargo-fuzz is a wrapper whose own build costs CI
# minutes, and every flag below is a stable one. The dev profile, because a smoke only has to
# show that the targets build and survive their seeds; long runs belong to `cargo fuzz run`
# (README.md).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-10}
triple=$(rustc -vV | sed -n 's/^host: //p')
target_dir="${CARGO_TARGET_DIR:-$PWD/target}/fuzz"
flags=(
  -Cpasses=sancov-module
  -Cllvm-args=-sanitizer-coverage-level=4
  -Cllvm-args=-sanitizer-coverage-inline-8bit-counters
  -Cllvm-args=-sanitizer-coverage-pc-table
  -Cllvm-args=-sanitizer-coverage-trace-compares
  --cfg fuzzing
  -Cdebug-assertions
  -Coverflow-checks
)
RUSTFLAGS="${flags[*]}" cargo build --locked --manifest-path fuzz/Cargo.toml \
  --target "$triple" --target-dir "$target_dir" --bins

log=$(mktemp)
trap 'rm -f "$log"' EXIT
for target in canonical_json metadata_parse validate_update; do
  corpus="fuzz/corpus/$target"
  mkdir -p "$corpus" "fuzz/artifacts/$target"
  if ! "$target_dir/$triple/debug/$target" -max_total_time="$seconds" \
    -artifact_prefix="fuzz/artifacts/$target/" "$corpus" \
    tests/data/notary-0.7/plain tests/data/notary-0.7/delegations \
    tests/data/notary-0.7/rotations >"$log" 2>&1; then
    grep -Ev '^#[0-9]+' "$log" | tail -n 80
    echo "fuzz target $target failed" >&2
    exit 1
  fi
  echo "$target: $(grep -E '^Done' "$log")"
done
