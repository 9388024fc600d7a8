#!/usr/bin/env python3
"""The real `caretta` binary with a kubeconfig pointing at the fake kube-apiserver,
network-namespace "pods" whose IPs the fake server reports, and real traffic: the
scraped /metrics must name the workloads (both TRAVERSE_UP_HIERARCHY values).

Exit code 77 (ctest SKIP) with a reason when root, BPF or the binary is missing.
"""
import os
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, REPO)

import test_agent as net  # noqa: E402  (network helpers, metric parsing)
from sim.fake_apiserver import objects as O  # noqa: E402
from sim.fake_apiserver.testing import FakeApiServer  # noqa: E402

AGENT = sys.argv[1] if len(sys.argv) > 1 else "build/caretta"
net.AGENT = AGENT


def cluster():
    objs = [O.namespace("shop"),
            O.node("node-1", "192.0.2.10", zone="zone-a", region="region-1")]
    objs += O.workload("Deployment", "web", "shop", ips=[net.IP[0]], ports=(8080,))
    objs += O.workload("StatefulSet", "db", "shop", ips=[net.IP[1]], ports=(5432,))
    return objs


class Agent:
    def __init__(self, kubeconfig, *extra):
        self.port = net.free_port()
        self.log = open(f"/tmp/{net.PREFIX}-k8s-agent-{self.port}.log", "w")
        self.proc = subprocess.Popen([AGENT, "--prometheus-port", str(self.port), "--poll-interval",
                                      "1", "--listen-address", "127.0.0.1", "--kubeconfig",
                                      kubeconfig, *extra], stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def metrics(self):
        import urllib.request
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10) as r:
            return net.parse_metrics(r.read().decode())

    def wait(self, predicate, timeout=30):
        deadline = time.time() + timeout
        last = {}
        while time.time() < deadline:
            try:
                last = self.metrics()
                if predicate(last):
                    return last
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"agent exited with {self.proc.returncode}: see {self.log.name}")
            time.sleep(0.5)
        return last

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(15)
        self.log.close()
        # SIGTERM is a clean exit; anything else (a sanitizer report ends the
        # process with 1) is a failure even when every assertion before it held.
        if self.proc.returncode != 0:
            raise RuntimeError(f"agent exited with {self.proc.returncode}: see {self.log.name}")


class AgentWithCluster(unittest.TestCase):
    def setUp(self):
        net.remove_network()
        net.make_network()
        self.addCleanup(net.remove_network)
        self.srv = FakeApiServer(objects=cluster()).start()
        self.addCleanup(self.srv.stop)

    def test_pods_resolve_to_workloads(self):
        top = Agent(self.srv.kubeconfig)
        self.addCleanup(top.stop)
        flat = Agent(self.srv.kubeconfig, "--traverse-up-hierarchy", "false")
        self.addCleanup(flat.stop)
        for a in (top, flat):
            m = a.wait(lambda m: net.series(m, "caretta_k8s_synced") == [1])
            self.assertEqual(net.series(m, "caretta_k8s_synced"), [1], "index never synced")
        net.exchange(net.IP[1], 5432, 1500, 2500)

        link = dict(client_name="web", client_namespace="shop", client_kind="Deployment",
                    server_name="db", server_namespace="shop", server_kind="StatefulSet",
                    server_port="5432")
        m = top.wait(lambda m: net.series(m, "caretta_links_observed", role="2", **link))
        self.assertEqual(net.series(m, "caretta_links_observed", role="1", **link), [1500])
        self.assertEqual(net.series(m, "caretta_links_observed", role="2", **link), [2500])
        self.assertEqual(net.series(m, "caretta_node_info", node="node-1", zone="zone-a",
                                    region="region-1"), [1])

        # TRAVERSE_UP_HIERARCHY=false: the pod itself, its direct controller as owner.
        m = flat.wait(lambda m: net.series(m, "caretta_links_observed", role="1",
                                           server_name="db-0"))
        rows = [dict(ls) for (n, ls), v in m.items()
                if n == "caretta_links_observed" and dict(ls).get("server_name") == "db-0"
                and dict(ls)["role"] == "1"]
        self.assertEqual(len(rows), 1, rows)
        self.assertEqual(rows[0]["server_kind"], "Pod")
        self.assertEqual(rows[0]["client_kind"], "Pod")
        self.assertTrue(rows[0]["client_name"].startswith("web-"), rows[0])
        self.assertTrue(rows[0]["client_owner"].startswith("ReplicaSet/web-"), rows[0])
        self.assertEqual(net.series(m, "caretta_links_observed", role="1", server_name="db-0"),
                         [1500])

    def test_no_provisional_name_is_exported(self):
        """The ReplicaSet LIST fails, so web's pods cannot be traced to their Deployment:
        the link is held, never exported under the ReplicaSet's name, and appears
        under the Deployment, to the byte, once the LIST succeeds."""
        self.srv.fault(type="error", resource="replicasets", verb="list", status=500, count=-1)
        a = Agent(self.srv.kubeconfig)
        self.addCleanup(a.stop)
        m = a.wait(lambda m: (net.series(m, "caretta_polls_total") or [0])[0] >= 1, timeout=40)
        self.assertGreaterEqual((net.series(m, "caretta_polls_total") or [0])[0], 1, "never polled")
        net.exchange(net.IP[1], 5432, 1500, 2500)
        m = a.wait(lambda m: (net.series(m, "caretta_provisional_links") or [0])[0] >= 2)
        self.assertGreaterEqual(net.series(m, "caretta_provisional_links")[0], 2, "not held")

        def replicaset_series(m):
            return [dict(ls) for (n, ls), _ in m.items() if n == "caretta_links_observed"
                    and "ReplicaSet" in (dict(ls).get("client_kind"), dict(ls).get("server_kind"))]
        self.assertEqual(replicaset_series(m), [])
        self.assertEqual(net.series(m, "caretta_links_observed", server_port="5432"), [])

        self.srv.control("DELETE", "/faults")
        link = dict(client_name="web", client_namespace="shop", client_kind="Deployment",
                    server_name="db", server_namespace="shop", server_kind="StatefulSet",
                    server_port="5432")
        m = a.wait(lambda m: net.series(m, "caretta_links_observed", role="2", **link) == [2500]
                   and net.series(m, "caretta_links_observed", role="1", **link) == [1500],
                   timeout=90)
        self.assertEqual(net.series(m, "caretta_links_observed", role="1", **link), [1500])
        self.assertEqual(net.series(m, "caretta_links_observed", role="2", **link), [2500])
        self.assertEqual(replicaset_series(m), [])
        self.assertEqual(net.series(m, "caretta_provisional_links"), [0])


if __name__ == "__main__":
    reason = net.skip_reason()
    if reason:
        print(f"SKIP: {reason}")
        sys.exit(77)
    try:
        unittest.main(argv=[sys.argv[0], "-v"], exit=True)
    finally:
        net.remove_network()
