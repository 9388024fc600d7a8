"""Ground truth: what the traffic generators measured, turned into the edges an
agent should export, in three views:

  k8s          Kubernetes names, Service NAT undone: a client's connection to a
               ClusterIP is attributed to the backend workload it reached, on the
               backend's (target) port; the edge remembers the Service it went through.
  k8s_service  like k8s, but role-1 (client-side) edges through a ClusterIP are named
               after the Service and its port — what an agent that does not undo the
               NAT exports (the original Caretta's behaviour).
  host         no cluster: every namespace is named by `ip netns` (kind "node"),
               ClusterIPs and external hosts are raw IPs (kind "external").

Each edge: client_{name,namespace,kind}, server_{name,namespace,kind}, server_port,
role (1 = observed at the client's socket, 2 = at the server's), bytes_sent (by the
observing end — caretta_links_observed), bytes_received, connections.

The outside-world server's own sockets are traced too (it is a namespace on this
host; a real external host is not): its role-2 view is listed under `artifacts`.
"""

import glob
import json
import os
import socket

from . import model as M


def _ent(name, namespace, kind):
    return (name, namespace, kind)


class Views:
    def __init__(self, model, hostname=None, dns_names=False):
        self.m = model
        self.hostname = hostname or socket.gethostname()
        self.dns_names = dns_names
        self.idx = model.ip_index()
        self.hostnet_ports = {}  # (node, port) -> workload entity
        for pod in model.pods:
            if pod["hostNetwork"]:
                wl = model.workloads[pod["workload"]]
                for p in pod["ports"]:
                    self.hostnet_ports[(pod["node"], p)] = wl["entity"]

    def wl_entity(self, pod):
        e = self.m.workloads[pod["workload"]]["entity"]
        return _ent(e["name"], e["namespace"], e["kind"])

    def ext_entity(self, e):
        return _ent(e["name"] if self.dns_names else e["ip"], "external", "external")

    # remote address -> entity (view k8s); port: the remote port when it is a server
    def k8s_remote(self, ip, port=None, undo_nat=True):
        kind, obj = self.idx.get(ip, (None, None))
        if kind == "pod":
            return self.wl_entity(obj), port, None
        if kind == "node":
            wl = self.hostnet_ports.get((obj["name"], port)) if port else None
            if wl:
                return _ent(wl["name"], wl["namespace"], wl["kind"]), port, None
            return _ent(obj["name"], "node", "node"), port, None
        if kind == "svc":
            target = dict(obj["ports"]).get(port, port)
            via = {"service": obj["name"], "service_namespace": obj["namespace"],
                   "service_port": port}
            if undo_nat:
                backend = self.m.workloads[obj["workload"]]["entity"]
                return (_ent(backend["name"], backend["namespace"], backend["kind"]),
                        target, via)
            return _ent(obj["name"], obj["namespace"], "Service"), port, via
        if kind == "ext":
            return self.ext_entity(obj), port, None
        return _ent(ip, "external", "external"), port, None

    def host_remote(self, ip, port=None):
        kind, obj = self.idx.get(ip, (None, None))
        if kind in ("pod", "node"):
            return _ent(obj["netns"], "node", "node"), port
        return _ent(ip, "external", "external"), port

    def actor_entity(self, aid, view):
        a = self.m.actors[aid]
        if "pod" in a:
            pod = a["pod"]
            if view == "host":
                return _ent(pod["netns"], "node", "node")
            return self.wl_entity(pod)
        if "node" in a:
            nd = self.m.node_by_name[a["node"]]
            return _ent(nd["netns"] if view == "host" else nd["name"], "node", "node")
        return _ent(self.hostname, "node", "node")  # the outside world's own sockets


def load_records(rundir):
    """(client records [(actor, rec)], server records [(actor, rec)])"""
    clients, servers = [], []
    for p in sorted(glob.glob(os.path.join(rundir, "runs", "run-*", "cli-*.json"))):
        if p.endswith(".cfg.json"):
            continue
        with open(p) as f:
            d = json.load(f)
        clients += [(d["actor"], r) for r in d["client"]]
    for p in sorted(glob.glob(os.path.join(rundir, "truth", "srv-*.json"))):
        with open(p) as f:
            d = json.load(f)
        servers += [(d["actor"], r) for r in d["server"]]
    return clients, servers


def compute(model, rundir, hostname=None, dns_names=False):
    v = Views(model, hostname, dns_names)
    clients, servers = load_records(rundir)
    views = {"k8s": {}, "k8s_service": {}, "host": {}}
    artifacts = {}
    failed = {}

    def add(table, cli, srv, port, role, sent, recv, conns, via=None, family=4):
        key = (cli, srv, int(port), role)
        e = table.get(key)
        if e is None:
            e = table[key] = {"client_name": cli[0], "client_namespace": cli[1],
                              "client_kind": cli[2], "server_name": srv[0],
                              "server_namespace": srv[1], "server_kind": srv[2],
                              "server_port": int(port), "role": role, "bytes_sent": 0,
                              "bytes_received": 0, "connections": 0, "via": [],
                              "families": []}
        e["bytes_sent"] += sent
        e["bytes_received"] += recv
        e["connections"] += conns
        if via and via not in e["via"]:
            e["via"].append(via)
        if family not in e["families"]:
            e["families"].append(family)

    for aid, r in clients:
        fam = 6 if ":" in r["dst"] else 4
        if not r["local"]:  # never connected
            cli = v.actor_entity(aid, "k8s")
            srv, port, _ = v.k8s_remote(r["dst"], r["dport"])
            k = (cli, srv, port)
            failed[k] = failed.get(k, 0) + r["failed"]
            continue
        for view, undo in (("k8s", True), ("k8s_service", False)):
            srv, port, via = v.k8s_remote(r["dst"], r["dport"], undo_nat=undo)
            add(views[view], v.actor_entity(aid, "k8s"), srv, port, 1, r["sent"], r["recv"],
                r["conns"], via, fam)
        srv, port = v.host_remote(r["dst"], r["dport"])
        add(views["host"], v.actor_entity(aid, "host"), srv, port, 1, r["sent"], r["recv"],
            r["conns"], None, fam)

    for aid, r in servers:
        fam = 6 if ":" in r["peer"] else 4
        outside = "external" in model.actors[aid]
        for view in ("k8s", "k8s_service", "host"):
            if view == "host":
                cli, _ = v.host_remote(r["peer"])
            else:
                cli, _, _ = v.k8s_remote(r["peer"])
            srv = v.actor_entity(aid, "host" if view == "host" else "k8s")
            add(artifacts.setdefault(view, {}) if outside else views[view], cli, srv,
                r["lport"], 2, r["sent"], r["recv"], r["conns"], None, fam)

    def lst(t):
        return sorted(t.values(), key=lambda e: (e["client_namespace"], e["client_name"],
                                                 e["server_namespace"], e["server_name"],
                                                 e["server_port"], e["role"]))
    return {"hostname": v.hostname, "dns_names": dns_names,
            "views": {k: lst(t) for k, t in views.items()},
            "artifacts": {k: lst(t) for k, t in artifacts.items()},
            "failed_connects": [{"client": list(k[0]), "server": list(k[1]), "port": k[2],
                                 "count": n} for k, n in failed.items()],
            "entities": entities(model, v)}


def entities(model, v):
    """Every entity the simulation can produce, per view (for filtering foreign series)."""
    k8s, host = set(), set()
    for wl in model.workloads.values():
        k8s.add((wl["name"], wl["namespace"], wl["kind"]))
    for svc in model.services.values():
        k8s.add((svc["name"], svc["namespace"], "Service"))
    for nd in model.nodes:
        k8s.add((nd["name"], "node", "node"))
        host.add((nd["netns"], "node", "node"))
    for pod in model.pods:
        if not pod["hostNetwork"]:
            host.add((pod["netns"], "node", "node"))
    for svc in model.services.values():
        for a in (svc["ip4"], svc["ip6"]):
            if a:
                host.add((a, "external", "external"))
    for e in model.externals.values():
        k8s.add(v.ext_entity(e))
        host.add((e["ip"], "external", "external"))
    return {"k8s": sorted(map(list, k8s)), "host": sorted(map(list, host))}
