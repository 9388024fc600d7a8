#!/usr/bin/env bash
# `make demo`: a boutique-shaped simulated cluster (network namespaces on this host, a
# fake kube-apiserver, kube-proxy-like nftables NAT, an outside world), the caretta
# agent mapping it, bounded traffic flowing, until Ctrl-C. See docs/demo.md.
#
#   scripts/demo.sh [--duration SECONDS] [--port PORT] [--topology NAME|FILE]
#                   [--prometheus] [--no-build] [--status-file FILE]
#
# Everything it creates is named ctsim-demo-* or lives in /run/ctsim/demo and is removed
# on exit, Ctrl-C or kill; after a crash, `sim/sim down --all` removes the leftovers.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
duration=0          # 0 = until Ctrl-C (still bounded: --max-hours)
max_hours=8
port=""
topology=boutique
with_prom=0
build=1
status_file=""
instance=demo
build_dir=${BUILD:-build}

while (($#)); do
  case $1 in
    --duration) duration=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --topology) topology=$2; shift 2 ;;
    --prometheus) with_prom=1; shift ;;
    --no-build) build=0; shift ;;
    --status-file) status_file=$2; shift 2 ;;
    --max-hours) max_hours=$2; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "demo: unknown argument $1" >&2; exit 2 ;;
  esac
done

t_start=$(date +%s.%N)
since() { awk -v a="$t_start" -v b="$(date +%s.%N)" 'BEGIN{printf "%6.1fs", b-a}'; }
step() { printf '\033[1m[%s] %s\033[0m\n' "$(since)" "$*"; [ -z "$status_file" ] || echo "$(since) $*" >>"$status_file"; }
note() { printf '         %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
  echo "demo: needs root (BPF, network namespaces, nftables). Try: sudo make demo" >&2
  exit 1
fi

# ---------------------------------------------------------------- 1. dependencies
step "1/5 checking dependencies"
need=()
for t in ip nft conntrack nsenter unshare python3 cmake curl; do
  command -v "$t" >/dev/null || need+=("$t")
done
if ((${#need[@]})); then
  note "missing: ${need[*]} — running scripts/setup.sh"
  bash scripts/setup.sh
fi

# ---------------------------------------------------------------- 2. build
agent="$repo/$build_dir/caretta"
if ((build)); then
  step "2/5 building the agent ($build_dir/caretta)"
  [ -f "$build_dir/CMakeCache.txt" ] || cmake -S . -B "$build_dir" >/dev/null
  cmake --build "$build_dir" --target caretta -j "$(nproc)" 2>&1 |
    grep --line-buffered -E '^\[ *[0-9]+%\]|error|Error' | sed -u 's/^/         /' || true
fi
[ -x "$agent" ] || { echo "demo: $agent was not built" >&2; exit 1; }

# ---------------------------------------------------------------- cleanup
agent_pid="" prom_pid="" traffic_pid="" workdir=""
cleanup() {
  trap - EXIT INT TERM
  echo
  step "stopping"
  for p in $traffic_pid $prom_pid $agent_pid; do kill "$p" 2>/dev/null || true; done
  for p in $traffic_pid $prom_pid $agent_pid; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  sim/sim -i "$instance" down 2>&1 | sed 's/^/         /' || true
  [ -n "$workdir" ] && rm -rf "$workdir"
  step "clean"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- 3. cluster
step "3/5 bringing up the simulated cluster (topology $topology)"
sim/sim -i "$instance" down >/dev/null 2>&1 || true     # leftovers of a crashed run
hard_max=$(awk -v d="$duration" -v h="$max_hours" 'BEGIN{print (d>0 ? d+60 : h*3600)}')
sim/sim -i "$instance" up --topology "$topology" --max-seconds "$hard_max" 2>&1 >/dev/null |
  sed 's/^sim: /         /'
rundir=/run/ctsim/$instance
kubeconfig=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["apiserver"]["kubeconfig"])' "$rundir/state.json")
# The simulated nodes do kube-proxy's Service NAT; the agent undoes it through their conntrack.
# External hosts get their reverse-DNS names from the simulated outside world's server.
dns_server=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["dns"]["loopback"])' "$rundir/state.json")
conntrack_netns=$(python3 -c 'import json,sys;print(",".join("/var/run/netns/"+n for n in json.load(open(sys.argv[1]))["conntrack_netns"].values()))' "$rundir/state.json")
workdir=$(mktemp -d /tmp/caretta-demo.XXXXXX)

# ---------------------------------------------------------------- 4. agent
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if [ -z "$port" ]; then
  port=7117
  while ! port_free "$port"; do port=$((port + 1)); done
fi
step "4/5 starting the agent on port $port"
HOME=$workdir POLL_INTERVAL=${POLL_INTERVAL:-2} RESOLVE_DNS=true DNS_SERVER=$dns_server \
  "$agent" --prometheus-port "$port" --kubeconfig "$kubeconfig" \
  --conntrack-netns "$conntrack_netns" >"$workdir/agent.log" 2>&1 &
agent_pid=$!
printf '{"pid": %d, "match": "%s", "name": "agent"}\n' "$agent_pid" "$agent" >"$rundir/pids/agent.json"
echo "$agent_pid" >"$rundir/agent.pid"
for _ in $(seq 150); do
  curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  kill -0 "$agent_pid" 2>/dev/null || { cat "$workdir/agent.log" >&2; exit 1; }
  sleep 0.2
done
if curl -fs "http://127.0.0.1:$port/metrics" | grep -q '^caretta_k8s_synced 1'; then
  note "Kubernetes resolver synced with the fake kube-apiserver"
else
  note "agent has no Kubernetes resolver yet: ends are named by network namespace (kind node)"
fi

if ((with_prom)) && command -v prometheus >/dev/null; then
  prom_port=9090
  while ! port_free "$prom_port"; do prom_port=$((prom_port + 1)); done
  cat >"$workdir/prometheus.yml" <<EOF
global: {scrape_interval: 5s}
scrape_configs: [{job_name: caretta, static_configs: [{targets: ['127.0.0.1:$port']}]}]
EOF
  prometheus --config.file="$workdir/prometheus.yml" --storage.tsdb.path="$workdir/tsdb" \
    --web.listen-address="127.0.0.1:$prom_port" --log.level=warn >"$workdir/prom.log" 2>&1 &
  prom_pid=$!
  printf '{"pid": %d, "match": "%s", "name": "prometheus"}\n' "$prom_pid" "$workdir" >"$rundir/pids/prometheus.json"
fi

# ---------------------------------------------------------------- 5. traffic
step "5/5 traffic flowing (bounded: topology rates, each round ≤ 600 s)"
(
  end=$(awk -v d="$hard_max" 'BEGIN{srand(); print systime() + d}')
  while [ "$(date +%s)" -lt "$end" ]; do
    left=$((end - $(date +%s)))
    round=$((left < 600 ? left : 600))
    ((round > 0)) || break
    python3 -m sim.ctsim -i "$instance" traffic --continuous --max-seconds "$round" \
      >/dev/null 2>&1 || sleep 1
  done
) &
traffic_pid=$!

echo
echo "  metrics:  http://127.0.0.1:$port/metrics"
echo "  map:      http://127.0.0.1:$port/"
echo "  graph:    http://127.0.0.1:$port/api/graph"
[ -n "$prom_pid" ] && echo "  prometheus: http://127.0.0.1:$prom_port/graph?g0.expr=caretta_links_observed"
echo "  kubectl:  kubectl --kubeconfig $kubeconfig get pods -A"
echo "  truth:    sim/sim -i $instance truth --view k8s"
echo

complete=0
deadline=$((duration > 0 ? $(date +%s) + duration : $(date +%s) + max_hours * 3600))
last=""
while [ "$(date +%s)" -lt "$deadline" ]; do
  kill -0 "$agent_pid" 2>/dev/null || { echo "demo: agent exited" >&2; tail -20 "$workdir/agent.log" >&2; exit 1; }
  if ((!complete)); then
    out=$(python3 -m sim.ctsim -i "$instance" mapcheck --dns-names --agent "http://127.0.0.1:$port" 2>/dev/null) && complete=1 || true
    if ((complete)); then
      step "map complete: $out"
      if ((duration > 0)); then note "Ctrl-C to stop (or wait for --duration ${duration}s)"; else note "Ctrl-C to stop"; fi
    elif [ "$out" != "$last" ] && [ "${out#0/0}" = "$out" ]; then
      note "map: $out"
      last=$out
    fi
    sleep 1
  else
    sleep 2
  fi
done
