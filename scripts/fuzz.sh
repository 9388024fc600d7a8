#!/usr/bin/env bash
# Runs every fuzz target of a CARETTA_FUZZ build for SECONDS each (JOBS at a time)
# and writes bench/results/fuzz.md: executions, coverage, corpus and findings per
# target. The corpus each run grows is kept in BUILD/fuzz-long/<target>/corpus, so
# a second run starts where the first stopped.
# usage: fuzz.sh BUILD_DIR SECONDS [JOBS]
# FUZZ_TARGETS="fuzz_a fuzz_b" runs only those again; the report keeps the other
# targets' last runs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$1" && pwd)
seconds=$2
jobs=${3:-$(nproc)}
out="$root/bench/results/fuzz.md"
targets=$(cd "$build/tests/fuzz" && find . -maxdepth 1 -type f -executable -name 'fuzz_*' \
  -printf '%f\n' | sort)
[ -n "$targets" ] || { echo "fuzz.sh: no fuzz targets in $build/tests/fuzz" >&2; exit 2; }

run=${FUZZ_TARGETS:-$targets}
echo "fuzz.sh: $(echo $run | wc -w) targets, ${seconds}s each, $jobs at a time"
mkdir -p "$build/fuzz-long"
start=$(date +%s)
status=0
printf '%s\n' $run | xargs -P "$jobs" -I{} bash -c '
  bash "$0/tests/fuzz/run_fuzzer.sh" "$1/tests/fuzz/{}" "$2" "$1/fuzz-long/{}" \
    "$0/tests/fuzz/corpus/{}" >"$1/fuzz-long/{}.summary" 2>&1 \
    || { echo "fuzz.sh: {} FAILED (see $1/fuzz-long/{}/fuzz.log)"; exit 1; }' \
  "$root" "$build" "$seconds" \
  || status=1
elapsed=$(($(date +%s) - start))

stat() { grep -E "^stat::$2:" "$1" | awk '{print $2}' | tail -1; }
{
  echo "# Fuzzing results"
  echo
  echo "Written by \`make fuzz FUZZ_SECONDS=$seconds\` (scripts/fuzz.sh) on $(date -u '+%Y-%m-%d %H:%M UTC'),"
  echo "$(nproc) cores, $jobs target(s) at a time, ${seconds} s per target (the last run: $(echo $run | wc -w)"
  echo "target(s) in ${elapsed} s; load average at its end $(cut -d' ' -f1-3 /proc/loadavg): exec/s"
  echo "falls when other work shares the cores)."
  echo "Build: clang $(clang --version | head -1 | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -1)," \
       "\`-fsanitize=fuzzer,address,undefined\`, UB not recoverable. Each run starts from"
  echo "the checked-in seeds (tests/fuzz/corpus/<target>) plus the corpus earlier runs grew"
  echo "(build-fuzz/fuzz-long/<target>/corpus)."
  echo
  echo "| target | executions | exec/s | coverage (edges) | features | corpus (inputs) | peak RSS MB | findings |"
  echo "|---|---:|---:|---:|---:|---:|---:|---|"
  for t in $targets; do
    log="$build/fuzz-long/$t/fuzz.log"
    [ -f "$log" ] || { echo "| $t | not run | | | | | | |"; continue; }
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    cov=$(echo "$last" | grep -oE 'cov: [0-9]+' | awk '{print $2}')
    ft=$(echo "$last" | grep -oE 'ft: [0-9]+' | awk '{print $2}')
    corp=$(echo "$last" | grep -oE 'corp: [0-9]+' | awk '{print $2}')
    artifacts=$(ls "$build/fuzz-long/$t/artifacts" 2>/dev/null | wc -l)
    if [ "$artifacts" -gt 0 ]; then
      findings="$artifacts: $(ls "$build/fuzz-long/$t/artifacts" | sed 's/-.*//' | sort | uniq -c | awk '{printf "%s %s ", $1, $2}')"
    else
      findings="none"
    fi
    echo "| $t | $(stat "$log" number_of_executed_units) | $(stat "$log" average_exec_per_sec) | ${cov:-?} | ${ft:-?} | ${corp:-?} | $(stat "$log" peak_rss_mb) | $findings |"
  done
  echo
  echo "Coverage and features are libFuzzer's counts (\`cov:\` edges, \`ft:\` features) at"
  echo "the end of the run. A finding leaves its input in build-fuzz/fuzz-long/<target>/artifacts;"
  echo "replay one with \`build-fuzz/tests/fuzz/<target> <file>\`."
} >"$out"
cat "$out"
exit $status
