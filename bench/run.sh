#!/usr/bin/env bash
# Benchmarks notarium side by side with the Go notary-server and nginx on this machine, and
# prints one table with ratios (see README.md). Arguments go to the harness:
#   bash bench/run.sh                    # the full run (about 15 minutes on 2 cores)
#   bash bench/run.sh --quick            # a smoke of the harness, not a measurement
#   bash bench/run.sh --out table.md --sections reads,publishes
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v nginx >/dev/null 2>&1 || need+=(nginx-light)
command -v notary-server >/dev/null 2>&1 || need+=(notary)
if [ ${#need[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need[@]}" >/dev/null
fi

# BENCH_BIN_DIR names a directory that already holds notarium and notarium-bench (CI runs the
# smoke with the debug binaries its test build made); otherwise both are built here, release
# unless BENCH_PROFILE=debug.
bin_dir=${BENCH_BIN_DIR:-}
if [ -z "$bin_dir" ]; then
  profile=${BENCH_PROFILE:-release}
  flag=()
  [ "$profile" = release ] && flag=(--release)
  cargo build ${flag[@]+"${flag[@]}"} --locked -p notarium -p notarium-bench --bins
  bin_dir="${CARGO_TARGET_DIR:-$PWD/target}/$([ "$profile" = release ] && echo release || echo debug)"
fi
exec "$bin_dir/notarium-bench" --notarium "$bin_dir/notarium" "$@"
