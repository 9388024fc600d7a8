#!/usr/bin/env bash
# Demo benchmark: time from `scripts/demo.sh` (= `make demo` on a built tree) to the
# first complete map, and the agent's CPU share and RSS while the demo's traffic flows.
# Writes bench/results/demo.md. Needs root. Usage: bench/demo/run.sh [SECONDS] [RUNS]
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
secs=${1:-60}
runs=${2:-3}
out=bench/results/demo.md
tmp=$(mktemp -d /tmp/caretta-bench-demo.XXXXXX)
demo_pid=""
trap '[ -n "$demo_pid" ] && kill "$demo_pid" 2>/dev/null; wait 2>/dev/null; sim/sim -i demo down >/dev/null 2>&1; rm -rf "$tmp"' EXIT
[ "$(id -u)" -eq 0 ] || { echo "bench/demo: needs root" >&2; exit 1; }
[ -x build/caretta ] || { echo "bench/demo: build the agent first (make build)" >&2; exit 1; }

ticks=$(getconf CLK_TCK)
rows=()
for r in $(seq "$runs"); do
  status=$tmp/status-$r
  t0=$(date +%s.%N)
  bash scripts/demo.sh --no-build --duration "$secs" --status-file "$status" >"$tmp/demo-$r.log" 2>&1 &
  demo_pid=$!
  agent=""
  for _ in $(seq 300); do
    [ -f /run/ctsim/demo/agent.pid ] && agent=$(cat /run/ctsim/demo/agent.pid) && break
    sleep 0.1
  done
  [ -n "$agent" ] || { echo "bench/demo: agent did not start" >&2; cat "$tmp/demo-$r.log" >&2; exit 1; }
  # Wait for the map, then sample the agent for the rest of the run.
  complete=""
  for _ in $(seq 600); do
    complete=$(awk '/map complete/ {print $1; exit}' "$status" 2>/dev/null || true)
    [ -n "$complete" ] && break
    sleep 0.1
  done
  if [ -z "$complete" ] || ! kill -0 "$agent" 2>/dev/null; then echo "run $r: no complete map" >&2; tail -30 "$tmp/demo-$r.log" >&2; exit 1; fi
  cpu0=$(awk '{print $14+$15}' "/proc/$agent/stat"); w0=$(date +%s.%N)
  max_rss=0; sum_rss=0; n=0
  while kill -0 "$agent" 2>/dev/null && grep -q 'map complete' "$status" && ! grep -q stopping "$status"; do
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$agent/status" 2>/dev/null || echo 0)
    cpu1=$(awk '{print $14+$15}' "/proc/$agent/stat" 2>/dev/null || echo "$cpu0"); w1=$(date +%s.%N)
    ((rss > max_rss)) && max_rss=$rss
    sum_rss=$((sum_rss + rss)); n=$((n + 1))
    sleep 1
  done
  wait "$demo_pid" || true
  demo_pid=""
  cpu=$(awk -v c0="$cpu0" -v c1="$cpu1" -v a="$w0" -v b="$w1" -v t="$ticks" \
        'BEGIN{ if (b-a > 0) printf "%.2f", 100*(c1-c0)/t/(b-a); else print "n/a" }')
  window=$(awk -v a="$w0" -v b="$w1" 'BEGIN{printf "%.0f", b-a}')
  edges=$(grep -o 'map complete: [0-9/]* edges ([a-z0-9_]* view)' "$status" | sed 's/map complete: //')
  rows+=("| $r | ${complete:-never} | $edges | $window | $cpu | $((sum_rss / (n > 0 ? n : 1) / 1024)) | $((max_rss / 1024)) |")
  echo "run $r: map complete at ${complete:-never}, agent CPU ${cpu}% of one core, max RSS $((max_rss / 1024)) MiB"
done

{
  echo "# Demo benchmark"
  echo
  echo "\`bench/demo/run.sh $secs $runs\` on $(uname -r), $(nproc) cores, $(date -u +%Y-%m-%d)."
  echo "Each run: \`scripts/demo.sh --no-build --duration $secs\` (what \`make demo\` does on a"
  echo "built tree) — sim up (boutique: 13 workloads, 16 pods, 2 nodes, 3 namespaces), agent"
  echo "(POLL_INTERVAL=2), continuous traffic at the topology's rates (≈ 90 requests/s)."
  echo
  echo "- **map complete**: seconds from starting demo.sh until \`/api/graph\` contains every"
  echo "  edge the traffic generators have produced so far (\`sim mapcheck\`, polled each second)."
  echo "- **CPU**: agent user+system time / wall time after the map is complete (% of one core)."
  echo "- **RSS**: agent VmRSS sampled each second (MiB)."
  echo
  echo "| run | map complete (s) | edges (view) | window (s) | agent CPU % | RSS avg MiB | RSS max MiB |"
  echo "|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Map-complete time is dominated by cluster bring-up (~1.5 s), the agent's start"
  echo "(BPF load, first poll) and the polls after the first request of every edge: one for"
  echo "an edge whose connections close (folded at close), two for one carried by a long-lived"
  echo "connection (the task walk lists a socket from the poll after the one that finds it)."
} >"$out"
echo "wrote $out"
