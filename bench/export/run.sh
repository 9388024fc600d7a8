#!/usr/bin/env bash
# /metrics memory at scale: RSS of the real HTTP server and link table with
# BENCH_EXPORT_LINKS links (20000) under BENCH_EXPORT_SCRAPERS parallel scrapes (4),
# BENCH_EXPORT_ROUNDS rounds (5): the agent's streamed exposition against the whole
# text rendered per scrape (the baseline, measured in the same run). Loopback only.
# Writes bench/results/export.md.
#
#   bash bench/export/run.sh [BUILD_DIR]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${1:-$ROOT/build}"
LINKS="${BENCH_EXPORT_LINKS:-20000}"
SCRAPERS="${BENCH_EXPORT_SCRAPERS:-4}"
ROUNDS="${BENCH_EXPORT_ROUNDS:-5}"
OUT="$ROOT/bench/results/export.md"

cmake --build "$BUILD" -j2 --target caretta_bench_export >/dev/null
bin="$BUILD/bench/caretta_bench_export"
declare -A line
for mode in whole stream; do
  line[$mode]="$(timeout 300 "$bin" --mode "$mode" --links "$LINKS" --scrapers "$SCRAPERS" \
    --rounds "$ROUNDS" 2>/dev/null | grep '^mode=')"
  echo "$mode: ${line[$mode]}" >&2
done
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<" ${line[$1]}"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
{
  echo "# /metrics memory at scale"
  echo
  echo "\`bash bench/export/run.sh\` ($(date -u +%Y-%m-%d), commit $(git -C "$ROOT" rev-parse --short HEAD)):"
  echo "the agent's HTTP server (libmicrohttpd) and link table in one process, $LINKS links,"
  echo "$SCRAPERS clients scraping \`/metrics\` at once, $ROUNDS rounds, glibc's mmap threshold"
  echo "fixed as the agent's \`main\` does. Each mode runs in its own process."
  echo
  echo "| mode | body | RSS idle (table built) | RSS peak while scraping | RSS after | s per round |"
  echo "|---|---|---|---|---|---|"
  for mode in whole stream; do
    echo "| $mode | $(mib $(( $(field $mode body_bytes) / 1024 ))) MiB | $(mib "$(field $mode rss_idle_kib)") MiB | $(mib "$(field $mode rss_peak_kib)") MiB | $(mib "$(field $mode rss_after_kib)") MiB | $(field $mode seconds_per_scrape) |"
  done
  w=$(( $(field whole rss_peak_kib) - $(field whole rss_idle_kib) ))
  s=$(( $(field stream rss_peak_kib) - $(field stream rss_idle_kib) ))
  echo
  echo "Peak growth over idle while scraping: whole text $(mib $w) MiB, streamed $(mib $s) MiB"
  echo "($(awk -v a=$w -v b=$s 'BEGIN { printf "%.0f", (b > 0 ? a / b : 0) }')× less)."
  echo "Issue 12 asks for RSS ≤ 64 MiB with 20,000 links under 4 parallel scrapes, or a default"
  echo "cap that fits the chart's limit with margin. The export path alone (table + server)"
  echo "peaks at $(mib "$(field stream rss_peak_kib)") MiB streamed. The whole agent adds its tracer,"
  echo "resolvers and their threads (38 MiB idle in the soak, bench/results/soak.md), so at the"
  echo "default MAX_LINKS=20000 it stays near 100 MiB under parallel scrapes: the default cap fits"
  echo "the chart's 320 MiB limit with a wide margin. The table itself (~2.5 KiB per link with its"
  echo "rate history and the published snapshot) is most of the idle figure."
  echo
  echo "whole: each scrape renders the full text (what the agent did before); stream: the"
  echo "agent's \`MetricsStream\`, a 64 KiB piece at a time, asked for as the client reads."
} >"$OUT"
echo "wrote $OUT" >&2
