"""Real-client test: kubectl against sim/fake_apiserver using the generated kubeconfig.

Run directly (ctest does): exits 77 (skip) when kubectl is not available.
kubectl is $KUBECTL if set, else <repo>/.tools/bin/kubectl, else from PATH.
"""

import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO)

from sim.fake_apiserver import objects as O  # noqa: E402
from sim.fake_apiserver.testing import FakeApiServer  # noqa: E402

KINDS = "pods,nodes,services,endpointslices,replicasets,deployments,daemonsets," \
        "statefulsets,jobs,cronjobs"


def find_kubectl():
    if os.environ.get("KUBECTL"):  # authoritative when set (even if it does not exist)
        c = os.environ["KUBECTL"]
        return c if os.path.isfile(c) and os.access(c, os.X_OK) else None
    for c in (os.path.join(REPO, ".tools", "bin", "kubectl"), shutil.which("kubectl")):
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return None


KUBECTL = find_kubectl()


@unittest.skipUnless(KUBECTL, "kubectl not found (run scripts/setup.d/10-k8s-tools.sh)")
class KubectlTest(unittest.TestCase):
    server_args = ("--demo-cluster",)

    def setUp(self):
        self.srv = FakeApiServer(extra_args=self.server_args)
        self.srv.start()
        self.addCleanup(self.srv.stop)
        self.cache = tempfile.mkdtemp(prefix="kubectl-cache-")
        self.addCleanup(shutil.rmtree, self.cache, True)

    def kubectl(self, *args, timeout=30):
        env = dict(os.environ, HOME=self.cache)
        env.pop("KUBECONFIG", None)
        r = subprocess.run([KUBECTL, "--kubeconfig", self.srv.kubeconfig, "--cache-dir",
                            self.cache, "--request-timeout", "20s"] + list(args),
                           capture_output=True, timeout=timeout, env=env)
        return r.returncode, r.stdout.decode(), r.stderr.decode()

    def expected_names(self):
        return [o["metadata"]["name"] for o in O.demo_cluster()
                if o["kind"] != "Namespace"]

    def test_get_all_kinds_table(self):
        rc, out, err = self.kubectl("get", KINDS, "-A")
        self.assertEqual(rc, 0, err)
        for name in self.expected_names():
            self.assertIn(name, out)
        self.assertIn("READY", out)      # server-side Table columns
        self.assertIn("CLUSTER-IP", out)
        self.assertIn("10.96.0.10", out)

    def test_get_json_matches_server(self):
        rc, out, err = self.kubectl("get", KINDS, "-A", "-o", "json")
        self.assertEqual(rc, 0, err)
        items = json.loads(out)["items"]
        want = sorted((o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"])
                      for o in O.demo_cluster() if o["kind"] != "Namespace")
        got = sorted((o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"])
                     for o in items)
        self.assertEqual(got, want)
        pod = next(o for o in items if o["kind"] == "Pod")
        self.assertTrue(pod["status"]["podIPs"])
        self.assertEqual(pod["metadata"]["ownerReferences"][0]["controller"], True)
        rc, out, err = self.kubectl("get", "pod", "-n", "shop", "redis-0", "-o", "json")
        self.assertEqual((rc, json.loads(out)["metadata"]["name"]), (0, "redis-0"), err)
        rc, out, err = self.kubectl("get", "all", "-n", "shop")
        self.assertEqual(rc, 0, err)
        self.assertIn("deployment.apps/frontend", out)

    def test_watch_streams_control_changes(self):
        env = dict(os.environ, HOME=self.cache)
        p = subprocess.Popen([KUBECTL, "--kubeconfig", self.srv.kubeconfig, "--cache-dir",
                              self.cache, "get", "pods", "-A", "--watch",
                              "--output-watch-events"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env)

        def kill():
            if p.poll() is None:
                p.kill()
            p.wait(5)
            p.stdout.close()
            p.stderr.close()
        self.addCleanup(kill)
        lines = queue.Queue()

        def reader():
            for line in p.stdout:
                lines.put(line.decode())
            lines.put(None)
        threading.Thread(target=reader, daemon=True).start()

        def wait_for(pred, timeout=15):
            deadline = time.monotonic() + timeout
            seen = []
            while time.monotonic() < deadline:
                try:
                    line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if line is None:
                    break
                seen.append(line)
                if pred(line):
                    return line
            self.fail(f"kubectl --watch did not print the expected line; got {seen!r}; "
                      f"stderr: {p.stderr.read1(4000) if p.poll() is not None else ''}")

        wait_for(lambda l: "redis-0" in l)
        # the initial list is printed; the watch is open once the server counts it
        deadline = time.monotonic() + 10
        while self.srv.stats()["watches_open"] < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.srv.stats()["watches_open"], 1)
        self.srv.add(O.pod("added-by-control", "shop", ip="10.244.1.99", node="node-1"))
        line = wait_for(lambda l: "added-by-control" in l)
        self.assertIn("ADDED", line)
        self.srv.delete("Pod", "shop", "redis-0")
        line = wait_for(lambda l: "redis-0" in l and "DELETED" in l)


class KubectlLegacyTest(KubectlTest):
    """Legacy discovery and plain lists (no Table) must work with kubectl too."""
    server_args = ("--demo-cluster", "--no-aggregated-discovery", "--no-tables")

    def test_get_all_kinds_table(self):
        rc, out, err = self.kubectl("get", KINDS, "-A")
        self.assertEqual(rc, 0, err)
        for name in self.expected_names():
            self.assertIn(name, out)


if __name__ == "__main__":
    if not KUBECTL:
        print("SKIP: kubectl not found ($KUBECTL, .tools/bin/kubectl, PATH); "
              "run scripts/setup.d/10-k8s-tools.sh", flush=True)
        sys.exit(77)
    unittest.main()
