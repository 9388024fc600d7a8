#!/usr/bin/env bash
# Runs ctest in a build directory, then fails on what ctest alone lets through:
#  - skips that tests/skip_allowlist.txt does not list, when CI=true
#    (scripts/check_skips.py reads the JUnit file ctest writes);
#  - with --sanitizer asan|tsan: the sanitizer run-time options below, and any
#    sanitizer report at all, including one from a process a test started and
#    did not check (every report goes to BUILD/sanitizer-logs/, printed here).
# usage: run_ctest.sh BUILD_DIR [--sanitizer asan|tsan] [ctest arguments...]
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$1" && pwd)
shift
sanitizer=""
if [ "${1:-}" = "--sanitizer" ]; then
  sanitizer=$2
  shift 2
fi

supp="$root/tests/sanitizers"
logs="$build/sanitizer-logs"
case "$sanitizer" in
  asan)
    rm -rf "$logs" && mkdir -p "$logs"
    # Leaks, use-after-return and init-order bugs too; one report ends the process.
    export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:strict_string_checks=1:log_path=$logs/asan:suppressions=$supp/asan.supp"
    export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
    export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:report_error_type=1:log_path=$logs/ubsan:suppressions=$supp/ubsan.supp"
    ;;
  tsan)
    rm -rf "$logs" && mkdir -p "$logs"
    export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:log_path=$logs/tsan:suppressions=$supp/tsan.supp"
    ;;
  "") ;;
  *) echo "run_ctest.sh: unknown sanitizer '$sanitizer'" >&2; exit 2 ;;
esac

junit="$build/ctest-junit.xml"
rm -f "$junit"
start=$(date +%s)
(cd "$build" && ctest --output-on-failure --output-junit "$junit" \
  --test-output-size-passed 4000000 --test-output-size-failed 4000000 "$@")
rc=$?
echo "run_ctest: $(basename "$build"): ctest exit $rc after $(($(date +%s) - start)) s"

if [ -f "$junit" ]; then
  python3 "$root/scripts/check_skips.py" "$junit" || rc=1
fi
if [ -n "$sanitizer" ] && [ -n "$(ls -A "$logs" 2>/dev/null)" ]; then
  echo "run_ctest: sanitizer reports (from tests or processes they started):"
  for f in "$logs"/*; do
    echo "=== $f"
    head -c 20000 "$f"
  done
  rc=1
fi
exit $rc
