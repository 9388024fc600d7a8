"""Unit tests for the simulator's pure parts (no root): topology expansion, the
kube-proxy ruleset, ground-truth views, the PTR server's answers."""

import json
import os
import struct
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from sim.ctsim import cluster as C  # noqa: E402
from sim.ctsim import dns  # noqa: E402
from sim.ctsim import model as M  # noqa: E402
from sim.ctsim import truth as T  # noqa: E402


class ModelTest(unittest.TestCase):
    def setUp(self):
        self.m = M.Model(M.load("boutique"), "ut")

    def test_boutique_shape(self):
        kinds = {w["kind"] for w in self.m.workloads.values()}
        self.assertEqual(kinds, {"Deployment", "StatefulSet", "DaemonSet", "CronJob", "Pod"})
        self.assertGreaterEqual(len(self.m.workloads), 12)
        self.assertEqual(len({w["namespace"] for w in self.m.workloads.values()}), 3)
        ips = [p["ip4"] for p in self.m.pods if not p["hostNetwork"]]
        self.assertEqual(len(ips), len(set(ips)))
        for p in self.m.pods:
            self.assertTrue(p["netns"].startswith("ctsim-ut-"))
            if p["hostNetwork"]:
                self.assertEqual(p["ip4"], self.m.node_by_name[p["node"]]["ip4"])

    def test_k8s_objects(self):
        objs = self.m.k8s_objects()
        pods = [o for o in objs if o["kind"] == "Pod"]
        self.assertEqual(len(pods), len(self.m.pods))
        fe = [p for p in pods if p["metadata"]["name"].startswith("frontend-")][0]
        self.assertEqual(fe["metadata"]["ownerReferences"][0]["kind"], "ReplicaSet")
        ne = [p for p in pods if p["metadata"]["name"].startswith("node-exporter-")][0]
        self.assertTrue(ne["spec"]["hostNetwork"])
        slices = [o for o in objs if o["kind"] == "EndpointSlice"
                  and o["metadata"]["labels"]["kubernetes.io/service-name"] == "currency"]
        self.assertEqual({s["addressType"] for s in slices}, {"IPv4", "IPv6"})
        json.dumps(objs)

    def test_nft_ruleset(self):
        rs = C.Cluster(self.m).nft_ruleset()
        self.assertIn("ip daddr 10.97.0.16 tcp dport 5000", rs)  # email 5000 -> 8080
        self.assertIn(":8080", rs)
        self.assertIn("ip6 daddr fd00:10:97::17 tcp dport 7000", rs)
        self.assertIn("numgen random mod 2", rs)  # frontend has 2 replicas
        self.assertNotIn("6379", rs)  # headless redis: no NAT

    def test_bad_topology(self):
        t = M.load("boutique")
        t["traffic"].append({"from": "shop/nope", "to": "svc:shop/cart", "port": 7070})
        with self.assertRaises(M.TopologyError):
            M.Model(t, "ut")


class TruthTest(unittest.TestCase):
    def test_views(self):
        m = M.Model(M.load("boutique"), "ut")
        fe = m.workloads["shop/frontend"]["pods"][0]
        cat = m.workloads["shop/productcatalog"]["pods"][0]
        svc = m.services["shop/productcatalog"]
        with tempfile.TemporaryDirectory() as rd:
            os.makedirs(f"{rd}/runs/run-001")
            os.makedirs(f"{rd}/truth")
            with open(f"{rd}/runs/run-001/cli-x.json", "w") as f:
                json.dump({"actor": f"pod/shop/{fe['name']}", "server": [], "client": [
                    {"edge": 1, "local": fe["ip4"], "dst": svc["ip4"], "dport": 3550,
                     "conns": 2, "sent": 100, "recv": 900, "failed": 0, "open": 0}]}, f)
            with open(f"{rd}/truth/srv-y.json", "w") as f:
                json.dump({"actor": f"pod/shop/{cat['name']}", "client": [], "server": [
                    {"peer": fe["ip4"], "local": cat["ip4"], "lport": 3550, "conns": 2,
                     "sent": 900, "recv": 100, "failed": 0, "open": 0}]}, f)
            t = T.compute(m, rd, hostname="h")
        k8s = {(e["client_name"], e["server_name"], e["server_kind"], e["server_port"],
                e["role"], e["bytes_sent"]) for e in t["views"]["k8s"]}
        self.assertEqual(k8s, {("frontend", "productcatalog", "Deployment", 3550, 1, 100),
                               ("frontend", "productcatalog", "Deployment", 3550, 2, 900)})
        svc_view = {(e["server_name"], e["server_kind"], e["role"])
                    for e in t["views"]["k8s_service"]}
        self.assertIn(("productcatalog", "Service", 1), svc_view)
        host = {(e["client_name"], e["server_name"], e["role"]) for e in t["views"]["host"]}
        self.assertIn((fe["netns"], svc["ip4"], 1), host)
        self.assertIn((fe["netns"], cat["netns"], 2), host)


class DnsTest(unittest.TestCase):
    def test_ptr(self):
        ptr = {dns.ptr_name("198.51.100.10"): "api.payments.example"}
        q = (struct.pack(">HHHHHH", 7, 0x0100, 1, 0, 0, 0) + b"\x0210\x03100\x0251\x03198"
             b"\x07in-addr\x04arpa\x00" + struct.pack(">HH", 12, 1))
        r = dns.answer(q, ptr, {})
        self.assertEqual(struct.unpack(">H", r[6:8])[0], 1)  # one answer
        self.assertIn(b"\x03api\x08payments\x07example\x00", r)
        q2 = q.replace(b"\x0210", b"\x0211")
        self.assertEqual(dns.answer(q2, ptr, {})[3] & 0xF, 3)  # NXDOMAIN


if __name__ == "__main__":
    unittest.main()
