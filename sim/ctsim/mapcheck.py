"""Is the agent's map complete? Compares /api/graph with the ground truth measured so
far (any view: Kubernetes names with or without Service NAT undone, or host names)."""

import json
import urllib.request

from . import truth as T


def graph_edges(agent_url, timeout=3):
    with urllib.request.urlopen(f"{agent_url}/api/graph?window=86400", timeout=timeout) as r:
        g = json.load(r)
    nodes = {n["id"]: (n["name"], n["namespace"], n["kind"]) for n in g.get("nodes", [])}
    return {(nodes.get(e["source"]), nodes.get(e["target"]), int(e["server_port"]))
            for e in g.get("edges", [])}


def check(cluster, agent_url, dns_names=False):
    """(complete?, found, expected, view) using the view that matches best.
    dns_names: the agent names external hosts by their reverse-DNS names."""
    t = T.compute(cluster.m, cluster.rd, dns_names=dns_names)
    got = graph_edges(agent_url)
    best = None
    for view in ("k8s", "k8s_service", "host"):
        exp = {((e["client_name"], e["client_namespace"], e["client_kind"]),
                (e["server_name"], e["server_namespace"], e["server_kind"]), e["server_port"])
               for e in t["views"][view]}
        found = len(exp & got)
        if best is None or found > best[1]:
            best = (bool(exp) and exp <= got, found, len(exp), view)
    return best
