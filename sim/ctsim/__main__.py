"""CLI: python3 -m sim.ctsim {up,down,traffic,truth,status,nft} [options]
(or sim/sim ...). See sim/README.md."""

import argparse
import json
import os
import sys

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)

from sim.ctsim import cluster as C  # noqa: E402
from sim.ctsim import model as M  # noqa: E402
from sim.ctsim import truth as T  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(prog="sim", description="simulated cluster (netns pods)")
    ap.add_argument("--instance", "-i", default=os.environ.get("CTSIM_INSTANCE", "demo"),
                    help="instance name (prefix of every resource; default demo)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="create namespaces, NAT, DNS, apiserver, servers")
    up.add_argument("--topology", "-t", default="boutique", help="file or name in sim/topologies")
    up.add_argument("--no-apiserver", action="store_true")
    up.add_argument("--max-seconds", type=float, default=3600,
                    help="servers/DNS exit on their own after this long (default 3600)")
    dn = sub.add_parser("down", help="remove the instance (also after a crash)")
    dn.add_argument("--all", action="store_true", help="every ctsim instance on this host")
    tr = sub.add_parser("traffic", help="run one round of client traffic")
    tr.add_argument("--scale", type=float, default=1.0, help="request counts × this")
    tr.add_argument("--rate-scale", type=float, default=1.0, help="rates × this")
    tr.add_argument("--continuous", action="store_true",
                    help="requests = rate × max-seconds (the demo)")
    tr.add_argument("--max-seconds", type=float, default=600)
    tr.add_argument("--no-wait", action="store_true")
    th = sub.add_parser("truth", help="print the ground-truth edges (JSON)")
    th.add_argument("--view", choices=["k8s", "k8s_service", "host", "all"], default="all")
    th.add_argument("--hostname", default=None)
    sub.add_parser("status", help="show instances and this instance's state")
    mc = sub.add_parser("mapcheck", help="is the agent's /api/graph complete? (exit 0 if so)")
    mc.add_argument("--agent", required=True, help="agent base URL, e.g. http://127.0.0.1:7117")
    mc.add_argument("--dns-names", action="store_true",
                    help="the agent resolves external hosts by reverse DNS")
    sub.add_parser("nft", help="print the kube-proxy nftables ruleset for the topology")
    a = ap.parse_args(argv)

    try:
        if a.cmd == "down":
            C.down(None if a.all else a.instance)
            return 0
        if a.cmd == "up":
            if os.geteuid() != 0:
                print("sim: up needs root", file=sys.stderr)
                return 1
            model = M.Model(M.load(a.topology), a.instance)
            C.Cluster(model).up(apiserver=not a.no_apiserver, max_seconds=a.max_seconds)
            print(json.dumps(C.attach(a.instance).state(), indent=1))
            return 0
        if a.cmd == "status":
            print(json.dumps({"instances": C.instances()}))
            if os.path.exists(os.path.join(C.rundir_of(a.instance), "state.json")):
                print(json.dumps(C.attach(a.instance).state(), indent=1))
            return 0
        if a.cmd == "nft":
            print(C.Cluster(M.Model(M.load("boutique"), a.instance)).nft_ruleset())
            return 0
        cl = C.attach(a.instance)
        if a.cmd == "traffic":
            cl.traffic(scale=a.scale, continuous=a.continuous, max_seconds=a.max_seconds,
                       rate_scale=a.rate_scale, wait=not a.no_wait)
            return 0
        if a.cmd == "mapcheck":
            from sim.ctsim import mapcheck
            try:
                ok, found, total, view = mapcheck.check(cl, a.agent, dns_names=a.dns_names)
            except OSError as e:
                print(f"mapcheck: {e}")
                return 1
            print(f"{found}/{total} edges ({view} view){' complete' if ok else ''}")
            return 0 if ok else 1
        if a.cmd == "truth":
            t = T.compute(cl.m, cl.rd, hostname=a.hostname)
            print(json.dumps(t if a.view == "all" else t["views"][a.view], indent=1))
            return 0
    except (C.SimError, M.TopologyError) as e:
        print(f"sim: {e}", file=sys.stderr)
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
