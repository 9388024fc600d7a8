"""Shape tests for sim/fake_apiserver/objects.py builders (no server needed)."""

import os
import sys
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO)

from sim.fake_apiserver import objects as O  # noqa: E402
from sim.fake_apiserver.resources import resource_for_object  # noqa: E402


class ObjectsTest(unittest.TestCase):
    def test_pod_shape(self):
        p = O.pod("a", "ns", ips=["10.0.0.5", "fd00::5"], node="n1", labels={"app": "a"})
        self.assertEqual((p["kind"], p["apiVersion"]), ("Pod", "v1"))
        self.assertEqual(p["status"]["podIP"], "10.0.0.5")
        self.assertEqual(p["status"]["podIPs"], [{"ip": "10.0.0.5"}, {"ip": "fd00::5"}])
        self.assertEqual(p["spec"]["nodeName"], "n1")
        self.assertEqual(p["status"]["phase"], "Running")
        self.assertEqual(p["metadata"]["uid"], O.make_uid("Pod", "ns", "a"))
        h = O.pod("h", "kube-system", ip="10.0.0.11", node="n1", host_network=True)
        self.assertTrue(h["spec"]["hostNetwork"])
        self.assertEqual(h["status"]["hostIP"], "10.0.0.11")

    def test_ownership_chains(self):
        objs = O.workload("Deployment", "web", "shop", replicas=3, ips=O.IPAllocator(
            "10.244.0.0/24"), nodes=["n1", "n2"])
        d, rs, pods = objs[0], objs[1], objs[2:]
        self.assertEqual(rs["metadata"]["ownerReferences"][0]["uid"], d["metadata"]["uid"])
        self.assertEqual(rs["metadata"]["ownerReferences"][0]["kind"], "Deployment")
        self.assertEqual(len(pods), 3)
        for p in pods:
            ref = p["metadata"]["ownerReferences"][0]
            self.assertEqual((ref["kind"], ref["uid"], ref["controller"]),
                             ("ReplicaSet", rs["metadata"]["uid"], True))
        self.assertEqual(len({p["status"]["podIP"] for p in pods}), 3)
        cj = O.workload("CronJob", "rep", "shop")
        self.assertEqual([o["kind"] for o in cj], ["CronJob", "Job", "Pod"])
        self.assertEqual(cj[1]["metadata"]["ownerReferences"][0]["uid"],
                         cj[0]["metadata"]["uid"])

    def test_service_and_slice(self):
        pods = O.workload("StatefulSet", "db", "shop", replicas=2, ips=["10.1.0.1",
                                                                         "10.1.0.2"])[1:]
        svc, eps = O.service_for("db", "shop", pods, cluster_ip="10.96.0.9",
                                 ports=[(5432, 5432, "pg")])
        self.assertEqual(svc["spec"]["clusterIPs"], ["10.96.0.9"])
        self.assertEqual(svc["spec"]["ports"][0]["port"], 5432)
        self.assertEqual(eps["metadata"]["labels"]["kubernetes.io/service-name"], "db")
        self.assertEqual([e["addresses"] for e in eps["endpoints"]],
                         [["10.1.0.1"], ["10.1.0.2"]])
        self.assertEqual(eps["endpoints"][0]["targetRef"]["uid"], pods[0]["metadata"]["uid"])

    def test_node_shape(self):
        n = O.node("n1", "10.0.0.1", zone="z", region="r", external_ip="1.2.3.4")
        self.assertNotIn("namespace", n["metadata"])
        self.assertEqual(n["metadata"]["labels"]["topology.kubernetes.io/zone"], "z")
        self.assertIn({"type": "InternalIP", "address": "10.0.0.1"}, n["status"]["addresses"])
        self.assertIn({"type": "ExternalIP", "address": "1.2.3.4"}, n["status"]["addresses"])

    def test_demo_cluster_is_consistent(self):
        objs = O.demo_cluster()
        uids = {o["metadata"]["uid"] for o in objs}
        self.assertEqual(len(uids), len(objs))
        for o in objs:
            resource_for_object(o)  # every kind is served
            for ref in o["metadata"].get("ownerReferences", []):
                self.assertIn(ref["uid"], uids, (o["kind"], o["metadata"]["name"]))
            for e in o.get("endpoints", []):
                self.assertIn(e["targetRef"]["uid"], uids)
        ips = [o["status"]["podIP"] for o in objs if o["kind"] == "Pod"]
        self.assertEqual(len(ips), len(set(ips)))


if __name__ == "__main__":
    unittest.main()
