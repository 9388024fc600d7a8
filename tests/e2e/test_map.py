#!/usr/bin/env python3
"""e2e: the service map the agent exports, checked through a real Prometheus against
the traffic generators' ground truth.

  --mode host  agent without a cluster: namespaces named by `ip netns` (kind node),
               ClusterIPs and external hosts as raw IPs. Always runnable.
  --mode k8s   agent with --kubeconfig pointing at the fake kube-apiserver: workloads,
               kinds, namespaces. SKIP (77) until the agent has the Kubernetes
               resolver (`--kubeconfig` in --help AND `caretta_k8s_synced 1`).
  --mode nat   like k8s, and a client's connection through a ClusterIP must be
               attributed to the backend workload it reached (conntrack), the Service
               staying visible as labels service_name/service_namespace/service_port.
               SKIP (77) until `caretta --help` mentions conntrack.

Phases: warm-up traffic (creates every series; Prometheus scrapes its totals), then
the main traffic; then every assertion. Exit 0 = all passed, 1 = failures (listed),
77 = skipped (reason printed).
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2elib as E  # noqa: E402

KIND_CASES = [  # (what, client or server, name, namespace, kind) in the k8s view
    ("Deployment", "server", "frontend", "shop", "Deployment"),
    ("StatefulSet", "server", "redis", "data", "StatefulSet"),
    ("DaemonSet with hostNetwork", "server", "node-exporter", "monitoring", "DaemonSet"),
    ("CronJob (Job pod)", "client", "report", "shop", "CronJob"),
    ("bare Pod", "client", "loadgen", "shop", "Pod"),
    ("node (kubelet-like process)", "client", "node-1", "node", "node"),
    ("external endpoint", "server", "198.51.100.10", "external", "external"),
]


def query_checks(ck, prom, truth_a, truth_b, view, cview):
    """The three example queries of the original README, typos fixed."""
    ea = E.expected_edges(truth_a, view)
    eb = E.expected_edges(truth_b, view)

    def delta(k):
        return eb[k]["bytes_sent"] - (ea[k]["bytes_sent"] if k in ea else 0)

    # A series born in the main round (e.g. a second Service backend the warm-up did
    # not hit) has no earlier sample, so increase() cannot count its first value:
    # the lower bound counts only series that existed after the warm-up.
    lower = {}

    def within(obs, exp, lo):
        return lo * 0.999 - 1 <= obs <= exp * 1.15 + 1

    names = {e["client_name"] for e in truth_b["views"][view]}
    # 1. throughput between a client and a server over 15 minutes, by port.
    if view == "host":
        cart = next(n for n in names if "-cart-" in n)
        redis = next(e["server_name"] for e in truth_b["views"][view]
                     if e["client_name"] == cart and e["server_port"] == 6379)
    else:
        cart, redis = "cart", "redis"
    q1 = (f'sum by (server_port) (increase(caretta_links_observed{{client_name="{cart}", '
          f'server_name="{redis}"}}[15m]))')
    exp = {}
    for k, e in eb.items():
        if e["client_name"] == cart and e["server_name"] == redis:
            p = str(e["server_port"])
            exp[p] = exp.get(p, 0) + delta(k)
            lower[p] = lower.get(p, 0) + (delta(k) if k in ea else 0)
    got = {m.get("server_port"): v for m, v in prom.vector(q1)}
    probs = [f"{q1}: ports {sorted(got)} != {sorted(exp)}"] if set(got) != set(exp) else []
    probs += [f"port {p}: {got[p]:.0f} not within [{lower[p]}, 1.15 x {exp[p]}]"
              for p in exp if p in got and not within(got[p], exp[p], lower[p])]
    ck.check(f"example query 1 (increase by server_port, {cart} -> {redis})", probs)

    # 2. rate of traffic from a client to each server, by server name.
    client = next(n for n in names if "checkout" in n)
    q2 = f'sum by (server_name) (rate(caretta_links_observed{{client_name="{client}"}}[5m]))'
    exp = {}
    for k, e in eb.items():
        if e["client_name"] == client:
            n = e["server_name"]
            exp[n] = exp.get(n, 0) + delta(k)
            lower[("q2", n)] = lower.get(("q2", n), 0) + (delta(k) if k in ea else 0)
    got = {m.get("server_name"): v * 300 for m, v in prom.vector(q2)}
    probs = [f"{q2}: servers {sorted(got)} != {sorted(exp)}"] if set(got) != set(exp) else []
    probs += [f"{s}: rate x 300 = {got[s]:.0f} not within [{lower[('q2', s)]}, 1.15 x {exp[s]}]"
              for s in exp if s in got and not within(got[s], exp[s], lower[("q2", s)])]
    ck.check(f"example query 2 (rate by server_name from {client})", probs)

    # 3. communication to external servers by client name, sorted descending.
    q3 = ('sort_desc(sum by (client_name) (increase(caretta_links_observed'
          '{server_namespace="external"}[5m])))')
    exp = {}
    for k, e in eb.items():
        if e["server_namespace"] == "external":
            n = e["client_name"]
            exp[n] = exp.get(n, 0) + delta(k)
            lower[("q3", n)] = lower.get(("q3", n), 0) + (delta(k) if k in ea else 0)
    rows = [(m.get("client_name"), v) for m, v in prom.vector(q3)
            if m.get("client_name") in names]  # this host's own traffic is not ours
    got = dict(rows)
    probs = [f"{q3}: clients {sorted(got)} != {sorted(exp)}"] if set(got) != set(exp) else []
    probs += [f"{c}: {got[c]:.0f} not within [{lower[('q3', c)]}, 1.15 x {exp[c]}]"
              for c in exp if c in got and not within(got[c], exp[c], lower[("q3", c)])]
    vals = [v for _, v in rows]
    if vals != sorted(vals, reverse=True):
        probs.append(f"not sorted descending: {rows}")
    ck.check("example query 3 (external servers by client, sorted)", probs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["host", "k8s", "nat"], default="host")
    a = ap.parse_args()
    k8s = a.mode in ("k8s", "nat")
    help_text = E.agent_help() if os.access(E.agent_binary(), os.X_OK) else ""
    if a.mode == "nat" and "conntrack" not in help_text.lower():
        E.skip("expected to fail until the agent undoes ClusterIP NAT: `caretta --help` does "
               "not mention conntrack (role-1 edges through a ClusterIP still name the "
               "Service, as the original Caretta does)")
    ck = E.Checks()
    with E.Env("e2e" + a.mode[0], k8s=k8s) as env:
        if k8s and not env.k8s:
            E.skip("agent has no Kubernetes resolver yet (needs --kubeconfig in --help and "
                   "caretta_k8s_synced 1 on /metrics within 20 s)")
        view = "host"
        if k8s:
            view = "k8s" if "conntrack" in help_text.lower() else "k8s_service"
        E.log(f"mode {a.mode}, expected view {view}")
        prom, agent = env.prom, env.agent

        def settled(truth, metric="caretta_links_observed", field="bytes_sent"):
            exp = E.expected_edges(truth, view)
            return lambda: (not E.diff_edges(exp, E.observed(prom, metric, truth, view), field)
                            or False)

        # Warm-up: every series exists and Prometheus has its totals before the main run.
        env.traffic(scale=0.1)
        truth_a = env.truth()
        E.wait_for(settled(truth_a), 25)
        warm_done = time.monotonic()
        time.sleep(3)
        env.traffic(scale=1.0)
        truth_b = env.truth()
        ok = E.wait_for(settled(truth_b), 25)
        E.log(f"map settled: {ok is True}")

        exp = E.expected_edges(truth_b, view)
        ck.check(f"edge set == ground truth ({len(exp)} series incl. "
                 f"{len(truth_b['artifacts'].get(view, []))} outside-world artifact)",
                 [p for p in E.diff_edges(exp, E.observed(prom, "caretta_links_observed",
                                                         truth_b, view), "bytes_sent")
                  if not p.startswith("bytes_sent differs")])
        for metric, field in (("caretta_links_observed", "bytes_sent"),
                              ("caretta_link_bytes_sent_total", "bytes_sent"),
                              ("caretta_link_bytes_received_total", "bytes_received"),
                              ("caretta_link_connections_opened_total", "connections")):
            obs = E.observed(prom, metric, truth_b, view)
            ck.check(f"{metric} == generator {field} per edge",
                     [p for p in E.diff_edges(exp, obs, field) if "differs" in p])

        v6 = {k: e for k, e in exp.items() if 6 in e["families"]}
        obs = E.observed(prom, "caretta_links_observed", truth_b, view)
        ck.check(f"IPv6 edges mapped like IPv4 ({len(v6)} series)",
                 (["no IPv6 edge in the topology"] if not v6 else []) +
                 [p for p in E.diff_edges(v6, {k: obs[k] for k in v6 if k in obs},
                                          "bytes_sent")])

        if view != "host":
            probs = []
            for what, end, name, ns, kind in KIND_CASES:
                def side(k, f, s_=end):
                    return dict(zip(E.LINK_KEY, k))[f"{s_}_{f}"]
                found = [k for k in exp if side(k, "name") == name and side(k, "kind") == kind]
                hit = [k for k in found if k in obs and side(k, "namespace") == ns]
                if not found:
                    probs.append(f"{what}: not in the ground truth")
                elif not hit:
                    probs.append(f"{what}: no series with {end} {ns}/{name} kind {kind}")
            if view == "k8s_service":
                svc = [k for k in obs if dict(zip(E.LINK_KEY, k))["server_kind"] == "Service"]
                if not svc:
                    probs.append("Service: no role-1 series names a Service")
            ck.check("kinds and namespaces (Deployment, StatefulSet, DaemonSet/hostNetwork, "
                     "CronJob, Pod, node, external, Service)", probs)
        else:
            kinds = {dict(zip(E.LINK_KEY, k))["server_kind"] for k in obs}
            ck.check("host view kinds are node/external only", kinds <= {"node", "external"})

        if view == "k8s":
            # The Service stays visible: edges that went through a ClusterIP carry it on
            # the agent's own link series (caretta_links_observed keeps exactly
            # Caretta's labels, summed over Services).
            probs = []
            by = ", ".join(E.LINK_KEY + ("service_name", "service_namespace", "service_port"))
            got = {}
            for m, _ in prom.vector(f"sum by ({by}) (caretta_link_bytes_sent_total)"):
                got.setdefault(E.edge_key(m), set()).add(
                    (m.get("service_name", ""), m.get("service_namespace", ""),
                     m.get("service_port", "")))
            for k, e in exp.items():
                if e["role"] != 1 or not e["via"]:
                    continue
                want = {(v["service"], v["service_namespace"], str(v["service_port"]))
                        for v in e["via"]}
                if not want <= got.get(k, set()):
                    probs.append(f"{E.fmt(k)}: Service labels {got.get(k)} lack {want}")
            ck.check("ClusterIP edges name the backend AND keep the Service visible", probs)

        # increase()/rate() extrapolate by up to ~1.5 scrape intervals over the samples'
        # span; let the span grow to >= 30 s so the bound [1, 1.15] holds.
        time.sleep(max(0.0, warm_done + 32 - time.monotonic()))
        query_checks(ck, prom, truth_a, truth_b, view, None)
        polls = agent.metric_value("caretta_polls_total")
        E.log(f"agent polls: {polls:.0f}")
    ck.exit()


if __name__ == "__main__":
    main()
