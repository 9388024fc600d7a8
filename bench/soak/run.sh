#!/usr/bin/env bash
# Soak benchmark (long; not in CI, not run by bench/run_all.sh by default).
#
#   bash bench/soak/run.sh [BUILD_DIR]        (default: build; needs root for BPF + netns)
#
# Runs the agent for SOAK_SECONDS (default 600) under connection churn at the highest
# rate this machine drives plus waves of long-lived connections, samples its RSS, CPU
# and tracked sockets every 10 s, checks every byte total it exports against the load
# generator's own counts, and writes bench/results/soak.md (RSS slope after warm-up,
# bytes lost, drops by cause, connections/s, method).
#
# Knobs (environment): SOAK_SECONDS (600; 60 checks the script itself),
# SOAK_WARMUP_SECONDS (a fifth of the run), SOAK_CLIENTS (0 = calibrate 1-4 parallel
# churn clients and take the fastest), SOAK_MSG (64 B each way per churn connection),
# SOAK_WAVE_PERIOD (60 s), SOAK_WAVE_CONNS (2000), SOAK_WAVE_HOLD (30 s), SOAK_WAVE_MSG
# (16 B), SOAK_POLL_INTERVAL (5 s), SOAK_SAMPLE_SECONDS (10), SOAK_OUT (the report's
# path; default bench/results/soak.md).
#
# Network: traffic only between two network namespaces the benchmark creates (names
# start with $CARETTA_BENCH_NS_TAG); every generator is bounded in count and time; the
# namespaces are removed on exit, on failure and on Ctrl-C.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${1:-build}"
case "$BUILD" in /*) ;; *) BUILD="$PWD/$BUILD" ;; esac
OUT="${SOAK_OUT:-$ROOT/bench/results/soak.md}"

if [[ $(id -u) -ne 0 ]]; then
  echo "bench/soak: needs root (BPF programs, network namespaces)" >&2
  exit 1
fi
cmake --build "$BUILD" -j2 --target caretta caretta_netload >/dev/null

export CARETTA_BENCH_NS_TAG="cso$$"
cleanup() {
  local ns
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^${CARETTA_BENCH_NS_TAG}n" || true); do
    ip netns del "$ns" 2>/dev/null || true
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The report names the commit it measured: run from the repository.
cd "$ROOT"
# Upper bound on the whole run: soak + calibration, start-up, final polls and margin.
limit=$((${SOAK_SECONDS:-600} + 600))
timeout --foreground --kill-after=20 "$limit" \
  python3 "$ROOT/bench/soak/soak.py" "$BUILD/caretta" "$BUILD/bench/caretta_netload" "$OUT"
