#!/usr/bin/env bash
# Runs one libFuzzer target for a number of seconds on its seed corpus.
# usage: run_fuzzer.sh BINARY SECONDS WORK_DIR SEED_DIR [extra libFuzzer flags]
# New inputs go to WORK_DIR/corpus (the checked-in seeds are only read); a crash,
# leak, timeout or OOM leaves its input in WORK_DIR/artifacts and fails the run.
# The libFuzzer log is WORK_DIR/fuzz.log (bench/results/fuzz.md is made from it).
set -euo pipefail
binary=$1 seconds=$2 work=$3 seeds=$4
shift 4
mkdir -p "$work/corpus" "$work/artifacts"
rm -f "$work/artifacts"/*
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
rc=0
"$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
  -print_final_stats=1 -artifact_prefix="$work/artifacts/" "$@" "$work/corpus" "$seeds" \
  >"$work/fuzz.log" 2>&1 || rc=$?
# The last status line and the final stats, then any report in full.
grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$work/fuzz.log" | tail -1 || true
grep -E '^stat::' "$work/fuzz.log" || true
if [ "$rc" -ne 0 ] || [ -n "$(ls -A "$work/artifacts")" ]; then
  echo "FAIL: $(basename "$binary") exited $rc; artifacts: $(ls "$work/artifacts" | tr '\n' ' ')"
  grep -v -E '^#[0-9]+' "$work/fuzz.log" | tail -80
  exit 1
fi
echo "PASS: $(basename "$binary") ran ${seconds}s without a finding"
