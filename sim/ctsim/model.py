"""Topology file → expanded model: nodes, pods (names, IPs, netns), Services with
ClusterIPs, external hosts, the processes ("actors") that generate traffic, and the
Kubernetes objects the fake apiserver serves. Pure data; no side effects.

Address plan (all addresses live only inside namespaces the simulator creates):
  node LAN        10.250.0.(10+i)/24       fd00:10:250::(10+i)/64   (bridge in the lan netns)
  pods on node i  10.244.i.k/32            fd00:10:244::i:k/128     (routed veth, Calico style)
  ClusterIPs      10.97.0.(10+j)           fd00:10:97::(10+j)       (nftables DNAT in every node)
  outside world   198.51.100.0/24 (TEST-NET-2), LAN side 10.250.0.254 / fd00:10:250::fe
  DNS (PTR)       198.51.100.53:53/udp in the outside-world netns
"""

import ipaddress
import json
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(_HERE))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from sim.fake_apiserver import objects as O  # noqa: E402

PREFIX = "ctsim-"
KINDS = ("Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job", "Pod")
EXT_LAN4, EXT_LAN6 = "10.250.0.254", "fd00:10:250::fe"
DNS_IP = "198.51.100.53"
EXT_NET4 = "198.51.100.0/24"
TOPOLOGY_DIR = os.path.join(os.path.dirname(_HERE), "topologies")


class TopologyError(ValueError):
    pass


def node_ips(i):
    return f"10.250.0.{10 + i}", f"fd00:10:250::{10 + i}"


def load(path_or_name):
    p = path_or_name
    if not os.path.exists(p):
        p = os.path.join(TOPOLOGY_DIR, path_or_name + ".json")
    with open(p) as f:
        return json.load(f)


class Model:
    """Everything derived from one topology for one simulator instance."""

    def __init__(self, topo, instance="demo"):
        if not instance.replace("-", "").isalnum() or len(instance) > 12:
            raise TopologyError("instance: 1-12 characters [a-z0-9-]")
        self.topo = topo
        self.instance = instance
        self.prefix = f"{PREFIX}{instance}-"
        self.seed = int(topo.get("seed", 1))
        self._nodes()
        self._workloads()
        self._services()
        self._externals()
        self._traffic()

    # ------------------------------------------------------------------ nodes

    def netns_name(self, short):
        return self.prefix + short

    def _nodes(self):
        names = self.topo.get("nodes") or ["node-1"]
        if len(names) > 8:
            raise TopologyError("at most 8 nodes")
        self.nodes = []
        for i, n in enumerate(names, start=1):
            v4, v6 = node_ips(i)
            self.nodes.append({"name": n, "index": i, "ip4": v4, "ip6": v6,
                               "netns": self.netns_name(n),
                               "pod_cidr4": f"10.244.{i}.0/24",
                               "pod_cidr6": f"fd00:10:244::{i}:0/112"})
        self.node_by_name = {n["name"]: n for n in self.nodes}
        self.lan_netns = self.netns_name("lan")

    # -------------------------------------------------------------- workloads

    def _workloads(self):
        self.namespaces = list(self.topo.get("namespaces") or [])
        self.workloads = {}
        self.pods = []
        next_host = {n["name"]: 2 for n in self.nodes}
        for w in self.topo.get("workloads", []):
            kind = w.get("kind")
            if kind not in KINDS:
                raise TopologyError(f"workload {w.get('name')}: kind must be one of {KINDS}")
            ns, name = w["namespace"], w["name"]
            if ns not in self.namespaces:
                self.namespaces.append(ns)
            key = f"{ns}/{name}"
            if key in self.workloads:
                raise TopologyError(f"duplicate workload {key}")
            placement = w.get("nodes") or [n["name"] for n in self.nodes]
            for p in placement:
                if p not in self.node_by_name:
                    raise TopologyError(f"workload {key}: unknown node {p}")
            hostnet = bool(w.get("hostNetwork"))
            ports = [int(p) for p in w.get("ports", [])]
            replicas = len(placement) if kind == "DaemonSet" else int(w.get("replicas", 1))
            if kind in ("CronJob", "Job", "Pod"):
                replicas = 1
            if replicas < 1 or replicas > 16:
                raise TopologyError(f"workload {key}: replicas 1..16")
            pod_nodes = [placement[i % len(placement)] for i in range(replicas)]
            if kind == "Pod":
                objs = [O.pod(name, ns, node=pod_nodes[0], ports=ports,
                              labels={"app": name})]
            else:
                objs = O.workload(kind, name, ns, replicas=replicas, nodes=pod_nodes,
                                  ports=ports)
            pods = [o for o in objs if o["kind"] == "Pod"]
            top = {"name": name, "namespace": ns, "kind": kind}
            wl = {"key": key, "name": name, "namespace": ns, "kind": kind, "ports": ports,
                  "hostNetwork": hostnet, "objects": objs, "pods": [], "entity": top}
            for po in pods:
                nd = self.node_by_name[po["spec"]["nodeName"]]
                if hostnet:
                    ip4, ip6, netns = nd["ip4"], nd["ip6"], nd["netns"]
                else:
                    k = next_host[nd["name"]]
                    next_host[nd["name"]] += 1
                    if k > 250:
                        raise TopologyError(f"node {nd['name']}: too many pods")
                    ip4, ip6 = f"10.244.{nd['index']}.{k}", f"fd00:10:244::{nd['index']}:{k}"
                    netns = self.netns_name(po["metadata"]["name"])
                st = po["status"]
                st["podIP"] = ip4
                st["podIPs"] = [{"ip": ip4}, {"ip": ip6}]
                st["hostIP"] = nd["ip4"]
                st["hostIPs"] = [{"ip": nd["ip4"]}, {"ip": nd["ip6"]}]
                if hostnet:
                    po["spec"]["hostNetwork"] = True
                    for c in po["spec"]["containers"]:
                        for cp in c.get("ports", []):
                            cp["hostPort"] = cp["containerPort"]
                pod = {"name": po["metadata"]["name"], "namespace": ns, "workload": key,
                       "node": nd["name"], "ip4": ip4, "ip6": ip6, "netns": netns,
                       "hostNetwork": hostnet, "ports": ports, "object": po}
                wl["pods"].append(pod)
                self.pods.append(pod)
            self.workloads[key] = wl

    # --------------------------------------------------------------- services

    def _services(self):
        self.services = {}
        for j, s in enumerate(self.topo.get("services", []), start=10):
            ns, name = s["namespace"], s["name"]
            key = f"{ns}/{name}"
            wkey = f"{ns}/{s['workload']}" if "/" not in s["workload"] else s["workload"]
            if wkey not in self.workloads:
                raise TopologyError(f"service {key}: unknown workload {wkey}")
            ports = [(int(p[0]), int(p[1])) if isinstance(p, list) else (int(p), int(p))
                     for p in s["ports"]]
            headless = bool(s.get("headless"))
            ip4 = None if headless else f"10.97.0.{j}"
            ip6 = f"fd00:10:97::{j}" if (s.get("ipv6") and not headless) else None
            self.services[key] = {"key": key, "name": name, "namespace": ns,
                                  "workload": wkey, "ports": ports, "headless": headless,
                                  "ip4": ip4, "ip6": ip6}

    def _externals(self):
        self.externals = {}
        net = ipaddress.ip_network(EXT_NET4)
        for e in self.topo.get("externals", []):
            if ipaddress.ip_address(e["ip"]) not in net or e["ip"] == DNS_IP:
                raise TopologyError(f"external {e['name']}: ip must be in {EXT_NET4}")
            self.externals[e["name"]] = {"name": e["name"], "ip": e["ip"],
                                         "ports": [int(p) for p in e["ports"]]}

    # ---------------------------------------------------------------- traffic

    def _traffic(self):
        """Expand traffic entries into client tasks per actor."""
        self.actors = {}  # actor id -> dict(netns, listen, clients, entity info)
        for pod in self.pods:
            aid = f"pod/{pod['namespace']}/{pod['name']}"
            listen = []
            for p in pod["ports"]:
                listen += [[pod["ip4"], p], [pod["ip6"], p]]
            self.actors[aid] = {"id": aid, "netns": pod["netns"], "listen": listen,
                                "clients": [], "pod": pod}
        for nd in self.nodes:
            aid = f"node/{nd['name']}"
            self.actors[aid] = {"id": aid, "netns": nd["netns"], "listen": [], "clients": [],
                                "node": nd["name"]}
        for e in self.externals.values():
            aid = f"ext/{e['name']}"
            self.actors[aid] = {"id": aid, "netns": None, "outside": True,
                                "listen": [[e["ip"], p] for p in e["ports"]], "clients": [],
                                "external": e["name"]}
        self.edges = []
        for idx, t in enumerate(self.topo.get("traffic", [])):
            src = t["from"]
            if src.startswith("node:"):
                which = src[5:]
                names = [n["name"] for n in self.nodes] if which == "*" else [which]
                clients = [(f"node/{n}", self.node_by_name[n]) for n in names]
            else:
                if src not in self.workloads:
                    raise TopologyError(f"traffic {idx}: unknown client workload {src}")
                clients = [(f"pod/{p['namespace']}/{p['name']}", p)
                           for p in self.workloads[src]["pods"]]
            fam = int(t.get("family", 4))
            port = int(t["port"])
            dst = t["to"]
            kind, _, ref = dst.partition(":")
            for aid, who in clients:
                my_node = who["name"] if aid.startswith("node/") else who["node"]
                if kind == "svc":
                    svc = self.services.get(ref)
                    if not svc or svc["headless"]:
                        raise TopologyError(f"traffic {idx}: {ref} is not a ClusterIP Service")
                    if port not in [p for p, _ in svc["ports"]]:
                        raise TopologyError(f"traffic {idx}: {ref} has no port {port}")
                    ip = svc["ip6"] if fam == 6 else svc["ip4"]
                    if not ip:
                        raise TopologyError(f"traffic {idx}: {ref} has no IPv{fam} ClusterIP")
                    targets = [[ip, port]]
                elif kind in ("pod", "hostnet"):
                    wl = self.workloads.get(ref)
                    if not wl:
                        raise TopologyError(f"traffic {idx}: unknown workload {ref}")
                    pods = wl["pods"]
                    if t.get("same_node"):
                        pods = [p for p in pods if p["node"] == my_node]
                    targets = [[p["ip6"] if fam == 6 else p["ip4"], port] for p in pods]
                elif kind == "ext":
                    e = self.externals.get(ref)
                    if not e:
                        raise TopologyError(f"traffic {idx}: unknown external {ref}")
                    targets = [[e["ip"], port]]
                else:
                    raise TopologyError(f"traffic {idx}: bad target {dst}")
                if not targets:
                    continue
                spec = {"edge": idx, "targets": targets,
                        "request_bytes": list(t.get("request_bytes", [100, 100])),
                        "response_bytes": list(t.get("response_bytes", [100, 100])),
                        "requests": int(t.get("requests", 10)),
                        "rate": float(t.get("rate", 5)), "reuse": bool(t.get("reuse"))}
                self.actors[aid]["clients"].append(spec)
            self.edges.append(dict(t, index=idx))

    # ----------------------------------------------------------- k8s objects

    def k8s_objects(self):
        objs = [O.namespace(n) for n in ["default", "kube-system"] + self.namespaces]
        for nd in self.nodes:
            objs.append(O.node(nd["name"], [nd["ip4"], nd["ip6"]],
                               zone=f"zone-{chr(ord('a') + nd['index'] - 1)}",
                               region="sim", pod_cidr=nd["pod_cidr4"]))
        for wl in self.workloads.values():
            objs += [o for o in wl["objects"] if o["kind"] != "Pod"]
            objs += [p["object"] for p in wl["pods"]]
        for svc in self.services.values():
            wl = self.workloads[svc["workload"]]
            sel = {"app": wl["name"]}
            ports = [(p, t, f"p{p}") for p, t in svc["ports"]]
            cips = ["None"] if svc["headless"] else [c for c in (svc["ip4"], svc["ip6"]) if c]
            s = O.service(svc["name"], svc["namespace"], cluster_ips=cips, ports=ports,
                          selector=sel)
            objs.append(s)
            eports = [{"port": t, "name": f"p{p}", "protocol": "TCP"} for p, t in svc["ports"]]
            fams = [("IPv4", "ip4")] + ([("IPv6", "ip6")] if (svc["ip6"] or svc["headless"])
                                        else [])
            for fam, attr in fams:
                eps = [{"ip": p[attr], "node": p["node"], "pod": p["object"]}
                       for p in wl["pods"]]
                objs.append(O.endpointslice(f"{svc['name']}-{fam.lower()}", svc["namespace"],
                                            service_name=svc["name"], endpoints=eps,
                                            ports=eports, address_type=fam,
                                            owner=O.owner_ref(s)))
        objs.append(O.service("kubernetes", "default", cluster_ip="10.97.0.1",
                              ports=[{"name": "https", "port": 443, "targetPort": 6443}]))
        return objs

    # ---------------------------------------------------------- resolution maps

    def ip_index(self):
        """address → what owns it, for the ground-truth views."""
        idx = {}
        for pod in self.pods:
            if not pod["hostNetwork"]:
                for a in (pod["ip4"], pod["ip6"]):
                    idx[a] = ("pod", pod)
        for nd in self.nodes:
            for a in (nd["ip4"], nd["ip6"]):
                idx[a] = ("node", nd)
        for svc in self.services.values():
            for a in (svc["ip4"], svc["ip6"]):
                if a:
                    idx[a] = ("svc", svc)
        for e in self.externals.values():
            idx[e["ip"]] = ("ext", e)
        return idx

    def summary(self):
        return {"instance": self.instance, "nodes": len(self.nodes), "pods": len(self.pods),
                "workloads": len(self.workloads), "services": len(self.services),
                "externals": len(self.externals), "edges": len(self.edges),
                "actors": len(self.actors)}
