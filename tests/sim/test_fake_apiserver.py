"""Protocol tests for sim/fake_apiserver: auth, discovery, LIST/GET, resourceVersion
semantics, WATCH, bookmarks, 410, faults, throughput. Each test runs its own server."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO)

from sim.fake_apiserver import objects as O  # noqa: E402
from sim.fake_apiserver.testing import FakeApiServer  # noqa: E402


class ServerTest(unittest.TestCase):
    extra_args = ()

    def setUp(self):
        self.srv = FakeApiServer(extra_args=self.extra_args)
        self.srv.start()
        self.addCleanup(self.srv.stop)

    def pods(self, n, ns="default", prefix="p"):
        return [O.pod(f"{prefix}{i:05d}", ns, ip=f"10.1.{i // 250}.{i % 250 + 1}",
                      node="node-1") for i in range(n)]

    def list_rv(self, path="/api/v1/pods"):
        st, body = self.srv.get_json(path)
        self.assertEqual(st, 200, body)
        return body["metadata"]["resourceVersion"]


class AuthTest(ServerTest):
    def test_missing_and_wrong_token_get_401_status(self):
        for tok in (None, "wrong-token"):
            st, hdr, body = self.srv.request("/api/v1/pods", token=tok)
            self.assertEqual(st, 401)
            s = json.loads(body)
            self.assertEqual((s["kind"], s["code"], s["reason"], s["status"]),
                             ("Status", 401, "Unauthorized", "Failure"))
        st, _, _ = self.srv.request("/api/v1/pods")
        self.assertEqual(st, 200)

    def test_version_public_but_wrong_token_rejected(self):
        st, body = self.srv.get_json("/version", token=None)
        self.assertEqual(st, 200)
        self.assertEqual(body["major"], "1")
        st, _, _ = self.srv.request("/version", token="nope")
        self.assertEqual(st, 401)
        st, _, _ = self.srv.request("/api", token=None)
        self.assertEqual(st, 401)

    def test_token_file_reread_on_change(self):
        with open(self.srv.info["token_file"], "w") as f:
            f.write("# rotated\nnew-token-1\nnew-token-2,user,uid\n")
        self.assertEqual(self.srv.request("/api/v1/pods")[0], 401)
        self.assertEqual(self.srv.request("/api/v1/pods", token="new-token-1")[0], 200)
        self.assertEqual(self.srv.request("/api/v1/pods", token="new-token-2")[0], 200)

    def test_rotate_via_control(self):
        self.srv.control("POST", "/tokens", {"tokens": ["rot-a"], "update_kubeconfig": True})
        self.assertEqual(self.srv.request("/api/v1/pods")[0], 401)
        self.assertEqual(self.srv.request("/api/v1/pods", token="rot-a")[0], 200)
        with open(self.srv.kubeconfig) as f:
            self.assertIn("token: rot-a", f.read())

    def test_kubeconfig_token_file_mode(self):
        srv = FakeApiServer(extra_args=["--kubeconfig-token-file"])
        srv.start()
        self.addCleanup(srv.stop)
        ct = os.path.join(srv.state_dir, "client-token")
        with open(srv.kubeconfig) as f:
            self.assertIn(f"tokenFile: {ct}", f.read())
        srv.control("POST", "/tokens", {"tokens": ["tok-2", "tok-3"]})
        with open(ct) as f:
            self.assertEqual(f.read().strip(), "tok-2")
        self.assertEqual(srv.request("/api/v1/pods", token="tok-3")[0], 200)

    def test_kubeconfig_shape(self):
        with open(self.srv.kubeconfig) as f:
            text = f.read()
        self.assertIn(f"server: {self.srv.info['url']}", text)
        self.assertIn("certificate-authority-data: ", text)
        self.assertIn(f"token: {self.srv.token}", text)


class DiscoveryTest(ServerTest):
    def test_legacy_discovery(self):
        st, api = self.srv.get_json("/api")
        self.assertEqual((st, api["kind"], api["versions"]), (200, "APIVersions", ["v1"]))
        st, v1 = self.srv.get_json("/api/v1")
        names = {r["name"]: r for r in v1["resources"]}
        for n in ("pods", "nodes", "services", "namespaces"):
            self.assertIn(n, names)
        self.assertTrue(names["pods"]["namespaced"])
        self.assertFalse(names["nodes"]["namespaced"])
        self.assertIn("watch", names["pods"]["verbs"])
        st, apis = self.srv.get_json("/apis")
        self.assertEqual({g["name"] for g in apis["groups"]},
                         {"apps", "batch", "discovery.k8s.io"})
        for gv, res in (("apps/v1", {"deployments", "replicasets", "daemonsets",
                                     "statefulsets"}),
                        ("batch/v1", {"jobs", "cronjobs"}),
                        ("discovery.k8s.io/v1", {"endpointslices"})):
            st, body = self.srv.get_json(f"/apis/{gv}")
            self.assertEqual((st, body["groupVersion"]), (200, gv))
            self.assertEqual({r["name"] for r in body["resources"]}, res)
        st, body = self.srv.get_json("/apis/apps")
        self.assertEqual(body["preferredVersion"]["groupVersion"], "apps/v1")

    def test_aggregated_discovery(self):
        acc = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
               "application/json")
        st, hdr, body = self.srv.request("/apis", headers={"Accept": acc})
        self.assertEqual(st, 200)
        self.assertIn("as=APIGroupDiscoveryList", hdr["content-type"])
        d = json.loads(body)
        self.assertEqual(d["kind"], "APIGroupDiscoveryList")
        self.assertEqual({i["metadata"]["name"] for i in d["items"]},
                         {"apps", "batch", "discovery.k8s.io"})
        st, hdr, body = self.srv.request("/api", headers={"Accept": "application/json"})
        self.assertEqual(json.loads(body)["kind"], "APIVersions")

    def test_openapi_404_and_unknown(self):
        for p in ("/openapi/v2", "/openapi/v3", "/api/v1/secrets", "/apis/foo/v1",
                  "/api/v1/namespaces/x/pods/y/log"):
            st, body = self.srv.get_json(p)
            self.assertEqual(st, 404, p)
            self.assertEqual(body["kind"], "Status")

    def test_write_verbs_rejected(self):
        st, _, body = self.srv.request("/api/v1/namespaces/default/pods", method="POST")
        self.assertEqual(st, 405)


class ListTest(ServerTest):
    def test_list_shapes_and_get(self):
        d = O.deployment("web", "shop")
        objs = O.workload("Deployment", "web", "shop", replicas=2, ips=["10.2.0.1",
                                                                         "10.2.0.2"])
        objs += [O.node("n1", "10.0.0.1", zone="z1"), O.service("web", "shop",
                 cluster_ip="10.96.0.5", selector={"app": "web"})]
        self.srv.add(objs)
        st, body = self.srv.get_json("/api/v1/pods")
        self.assertEqual((body["kind"], body["apiVersion"]), ("PodList", "v1"))
        self.assertEqual(len(body["items"]), 2)
        self.assertNotIn("kind", body["items"][0])  # like the real server
        st, body = self.srv.get_json("/apis/apps/v1/namespaces/shop/deployments")
        self.assertEqual(body["kind"], "DeploymentList")
        self.assertEqual(body["items"][0]["metadata"]["uid"], d["metadata"]["uid"])
        st, body = self.srv.get_json("/apis/apps/v1/namespaces/other/deployments")
        self.assertEqual(body["items"], [])
        st, body = self.srv.get_json("/api/v1/nodes/n1")
        self.assertEqual((st, body["kind"], body["apiVersion"]), (200, "Node", "v1"))
        st, body = self.srv.get_json("/api/v1/namespaces/shop/services/web")
        self.assertEqual(body["spec"]["clusterIP"], "10.96.0.5")
        st, body = self.srv.get_json("/api/v1/namespaces/shop/services/nope")
        self.assertEqual((st, body["reason"], body["code"]), (404, "NotFound", 404))

    def test_pagination(self):
        self.srv.add(self.pods(25, "a") + self.pods(5, "b"))
        names, cont, rvs, pages = [], None, set(), 0
        while True:
            q = "/api/v1/pods?limit=10" + (f"&continue={cont}" if cont else "")
            st, body = self.srv.get_json(q)
            self.assertEqual(st, 200, body)
            pages += 1
            names += [(i["metadata"]["namespace"], i["metadata"]["name"])
                      for i in body["items"]]
            rvs.add(body["metadata"]["resourceVersion"])
            cont = body["metadata"].get("continue")
            if pages == 1:
                self.assertEqual(body["metadata"]["remainingItemCount"], 20)
                # a change between pages must not show up (consistent snapshot)
                self.srv.add(O.pod("p00020", "a", ip="10.9.9.9"))
                self.srv.add(O.pod("zzz", "a", ip="10.9.9.8"))
            if not cont:
                break
        self.assertEqual(pages, 3)
        self.assertEqual(len(rvs), 1)
        self.assertEqual(names, sorted(names))
        self.assertEqual(len(set(names)), 30)
        st, body = self.srv.get_json("/api/v1/namespaces/a/pods/p00020")
        self.assertEqual(body["status"]["podIP"], "10.9.9.9")

    def test_bad_continue(self):
        st, body = self.srv.get_json("/api/v1/pods?limit=1&continue=garbage!!")
        self.assertEqual(st, 400)

    def test_selectors(self):
        a = O.pod("a", labels={"app": "x", "tier": "fe"}, node="n1", ip="10.0.0.1")
        b = O.pod("b", labels={"app": "y"}, node="n2", ip="10.0.0.2")
        self.srv.add([a, b])

        def names(q):
            st, body = self.srv.get_json("/api/v1/pods?" + q)
            self.assertEqual(st, 200, body)
            return [i["metadata"]["name"] for i in body["items"]]
        self.assertEqual(names("labelSelector=app%3Dx"), ["a"])
        self.assertEqual(names("labelSelector=app%20in%20(x,y)"), ["a", "b"])
        self.assertEqual(names("labelSelector=!tier"), ["b"])
        self.assertEqual(names("fieldSelector=spec.nodeName%3Dn2"), ["b"])
        self.assertEqual(names("fieldSelector=metadata.name!%3Da"), ["b"])


class ResourceVersionTest(ServerTest):
    def test_global_monotonic_counter(self):
        r0 = int(self.list_rv())
        res = self.srv.add([O.pod("a", ip="10.0.0.1"), O.node("n", "10.0.0.9"),
                            O.service("s", cluster_ip="10.96.0.2")])
        rvs = [int(r["resourceVersion"]) for r in res["results"]]
        self.assertEqual(rvs, [r0 + 1, r0 + 2, r0 + 3])
        self.assertEqual(int(self.list_rv("/api/v1/pods")), r0 + 3)
        self.assertEqual(int(self.list_rv("/api/v1/nodes")), r0 + 3)
        st, pod = self.srv.get_json("/api/v1/namespaces/default/pods/a")
        self.assertEqual(pod["metadata"]["resourceVersion"], str(r0 + 1))
        uid = pod["metadata"]["uid"]
        self.srv.add(O.pod("a", ip="10.0.0.5"))
        st, pod = self.srv.get_json("/api/v1/namespaces/default/pods/a")
        self.assertEqual(pod["metadata"]["resourceVersion"], str(r0 + 4))
        self.assertEqual(pod["metadata"]["uid"], uid)

    def test_exact_and_too_large(self):
        self.srv.add(O.pod("a", ip="10.0.0.1"))
        rv = self.list_rv()
        self.srv.add(O.pod("b", ip="10.0.0.2"))
        st, body = self.srv.get_json(f"/api/v1/pods?resourceVersion={rv}"
                                     "&resourceVersionMatch=Exact")
        self.assertEqual([i["metadata"]["name"] for i in body["items"]], ["a"])
        self.assertEqual(body["metadata"]["resourceVersion"], rv)
        st, body = self.srv.get_json("/api/v1/pods?resourceVersion=99999999")
        self.assertEqual(st, 504)
        st, body = self.srv.get_json("/api/v1/pods?resourceVersion=0")
        self.assertEqual((st, len(body["items"])), (200, 2))


class WatchTest(ServerTest):
    extra_args = ("--bookmark-interval", "0.5")

    def test_added_modified_deleted_in_order(self):
        self.srv.add(O.pod("old", ip="10.0.0.1"))
        rv = self.list_rv()
        with self.srv.watch(f"/api/v1/pods?watch=1&resourceVersion={rv}") as w:
            self.assertEqual(w.status, 200)
            self.assertEqual(w.headers.get("transfer-encoding"), "chunked")
            self.srv.add(O.pod("x", ip="10.0.0.2"))
            self.srv.add(O.node("n", "10.0.0.9"))  # other resource: not in this watch
            self.srv.add(O.pod("x", ip="10.0.0.3"))
            self.srv.delete("Pod", "default", "x")
            evs = w.events(3, timeout=5)
        self.assertEqual([e["type"] for e in evs], ["ADDED", "MODIFIED", "DELETED"])
        self.assertEqual(evs[1]["object"]["status"]["podIP"], "10.0.0.3")
        rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in evs]
        self.assertEqual(rvs, [int(rv) + 1, int(rv) + 3, int(rv) + 4])
        self.assertEqual(evs[0]["object"]["kind"], "Pod")

    def test_watch_without_rv_sends_initial_added(self):
        self.srv.add([O.pod("a", ip="10.0.0.1"), O.pod("b", "ns2", ip="10.0.0.2")])
        with self.srv.watch("/api/v1/namespaces/ns2/pods?watch=true") as w:
            ev = w.next_event(5)
            self.assertEqual((ev["type"], ev["object"]["metadata"]["name"]), ("ADDED", "b"))
            self.srv.add(O.pod("c", "default", ip="10.0.0.3"))
            self.srv.add(O.pod("d", "ns2", ip="10.0.0.4"))
            ev = w.next_event(5)
            self.assertEqual(ev["object"]["metadata"]["name"], "d")

    def test_legacy_watch_path_and_single_object(self):
        self.srv.add([O.pod("a", ip="10.0.0.1"), O.pod("b", ip="10.0.0.2")])
        rv = self.list_rv()
        with self.srv.watch(f"/api/v1/watch/namespaces/default/pods/b?resourceVersion={rv}") as w:
            self.srv.add(O.pod("a", ip="10.0.1.1"))
            self.srv.add(O.pod("b", ip="10.0.1.2"))
            ev = w.next_event(5)
            self.assertEqual((ev["type"], ev["object"]["metadata"]["name"]),
                             ("MODIFIED", "b"))

    def test_label_selector_transitions(self):
        self.srv.add(O.pod("a", labels={"app": "x"}, ip="10.0.0.1"))
        rv = self.list_rv()
        with self.srv.watch(f"/api/v1/pods?watch=1&labelSelector=app%3Dx&resourceVersion={rv}") as w:
            self.srv.add(O.pod("a", labels={"app": "y"}, ip="10.0.0.1"))
            self.srv.add(O.pod("a", labels={"app": "x"}, ip="10.0.0.1"))
            evs = w.events(2, 5)
        self.assertEqual([e["type"] for e in evs], ["DELETED", "ADDED"])

    def test_bookmarks(self):
        self.srv.add(O.pod("a", ip="10.0.0.1"))
        rv = self.list_rv()
        with self.srv.watch(f"/api/v1/pods?watch=1&allowWatchBookmarks=true&resourceVersion={rv}") as w:
            self.srv.add(O.node("n", "10.0.0.9"))  # moves the global RV
            ev = w.next_event(5)
            self.assertEqual(ev["type"], "BOOKMARK")
            self.assertEqual((ev["object"]["kind"], ev["object"]["apiVersion"]), ("Pod", "v1"))
            self.assertGreaterEqual(int(ev["object"]["metadata"]["resourceVersion"]),
                                    int(rv) + 1)
            self.assertEqual(set(ev["object"]["metadata"]) - {"creationTimestamp"},
                             {"resourceVersion"})
        with self.srv.watch(f"/api/v1/pods?watch=1&resourceVersion={rv}&timeoutSeconds=1") as w:
            self.assertIsNone(w.next_event(5))  # no bookmarks when not asked for
            self.assertTrue(w.clean_end)

    def test_send_initial_events(self):
        self.srv.add([O.pod("a", ip="10.0.0.1")])
        with self.srv.watch("/api/v1/pods?watch=1&sendInitialEvents=true&allowWatchBookmarks=true"
                            "&resourceVersionMatch=NotOlderThan") as w:
            a, bm = w.events(2, 5)
        self.assertEqual(a["type"], "ADDED")
        self.assertEqual(bm["type"], "BOOKMARK")
        self.assertEqual(bm["object"]["metadata"]["annotations"],
                         {"k8s.io/initial-events-end": "true"})

    def test_timeout_seconds_ends_cleanly(self):
        t0 = time.monotonic()
        with self.srv.watch("/api/v1/pods?watch=1&timeoutSeconds=1") as w:
            self.assertIsNone(w.next_event(5))
            self.assertTrue(w.clean_end)
        self.assertLess(time.monotonic() - t0, 4)

    def test_410_after_compaction(self):
        self.srv.add(O.pod("a", ip="10.0.0.1"))
        rv = self.list_rv()
        self.srv.add(O.pod("b", ip="10.0.0.2"))
        st, first = self.srv.get_json("/api/v1/pods?limit=1")
        with self.srv.watch(f"/api/v1/pods?watch=1&resourceVersion={rv}") as live:
            self.srv.add(O.pod("b", ip="10.0.0.3"))
            self.srv.control("POST", "/compact", {})
            self.srv.add(O.pod("b", ip="10.0.0.4"))
            # an open watch is not cut by compaction
            self.assertEqual([e["type"] for e in live.events(3, 5)],
                             ["ADDED", "MODIFIED", "MODIFIED"])
        with self.srv.watch(f"/api/v1/pods?watch=1&resourceVersion={rv}") as w:
            self.assertEqual(w.status, 200)
            ev = w.next_event(5)
            self.assertEqual(ev["type"], "ERROR")
            self.assertEqual((ev["object"]["code"], ev["object"]["reason"]), (410, "Expired"))
            self.assertIsNone(w.next_event(5))
        st, body = self.srv.get_json("/api/v1/pods?limit=1&continue="
                                     + first["metadata"]["continue"])
        self.assertEqual((st, body["reason"]), (410, "Expired"))
        # watching from the current RV still works
        with self.srv.watch(f"/api/v1/pods?watch=1&resourceVersion={self.list_rv()}") as w:
            self.srv.add(O.pod("c", ip="10.0.0.3"))
            self.assertEqual(w.next_event(5)["type"], "ADDED")

    def test_stats_and_close_watches(self):
        with self.srv.watch("/api/v1/pods?watch=1") as w:
            deadline = time.monotonic() + 5
            while self.srv.stats()["watches_open"] != 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            s = self.srv.stats()
            self.assertEqual(s["watches_open"], 1)
            self.assertGreaterEqual(s["requests"]["/api/v1/pods"], 1)
            self.srv.control("POST", "/close-watches")
            self.assertIsNone(w.next_event(5))
            self.assertTrue(w.clean_end)
        deadline = time.monotonic() + 5
        while self.srv.stats()["watches_open"] != 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.srv.stats()["watches_open"], 0)

    def test_client_disconnect_frees_watch(self):
        w = self.srv.watch("/api/v1/pods?watch=1")
        time.sleep(0.2)
        w.close()
        deadline = time.monotonic() + 5
        while self.srv.stats()["watches_open"] != 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(self.srv.stats()["watches_open"], 0)


class HistoryWindowTest(ServerTest):
    extra_args = ("--history-size", "50")

    def test_rv_older_than_window_is_410(self):
        rv = self.list_rv()
        self.srv.add(self.pods(200))
        with self.srv.watch(f"/api/v1/pods?watch=1&resourceVersion={rv}") as w:
            ev = w.next_event(5)
        self.assertEqual((ev["type"], ev["object"]["code"]), ("ERROR", 410))


class FaultTest(ServerTest):
    def test_error_n_requests_for_one_resource(self):
        self.srv.fault(type="error", status=500, count=2, resource="pods")
        self.assertEqual(self.srv.request("/api/v1/services")[0], 200)
        st, _, body = self.srv.request("/api/v1/pods")
        self.assertEqual((st, json.loads(body)["reason"]), (500, "InternalError"))
        self.assertEqual(self.srv.request("/api/v1/pods")[0], 500)
        self.assertEqual(self.srv.request("/api/v1/pods")[0], 200)

    def test_429_retry_after(self):
        self.srv.fault(type="error", status=429, retry_after=2)
        st, hdr, _ = self.srv.request("/api/v1/nodes")
        self.assertEqual((st, hdr.get("retry-after")), (429, "2"))

    def test_stall(self):
        self.srv.fault(type="stall", seconds=1.0, verb="list")
        t0 = time.monotonic()
        self.assertEqual(self.srv.request("/api/v1/pods")[0], 200)
        self.assertGreaterEqual(time.monotonic() - t0, 0.9)
        t0 = time.monotonic()
        self.srv.request("/api/v1/pods")
        self.assertLess(time.monotonic() - t0, 0.9)

    def test_drop_watch_mid_object(self):
        rv = self.list_rv()
        self.srv.fault(type="drop_watch", resource="pods")
        with self.srv.watch(f"/api/v1/pods?watch=1&resourceVersion={rv}") as w:
            self.srv.add(O.pod("victim", ip="10.0.0.1"))
            self.assertIsNone(w.next_line(5))
            self.assertFalse(w.clean_end)
            self.assertTrue(w.leftover.startswith(b'{"type":"ADDED"'))
            with self.assertRaises(ValueError):
                json.loads(w.leftover)
        # the next watch is healthy
        with self.srv.watch(f"/api/v1/pods?watch=1&resourceVersion={rv}") as w:
            self.assertEqual(w.next_event(5)["object"]["metadata"]["name"], "victim")

    def test_malformed_event(self):
        rv = self.list_rv()
        self.srv.fault(type="malformed_event", resource="pods")
        with self.srv.watch(f"/api/v1/pods?watch=1&resourceVersion={rv}") as w:
            self.srv.add(O.pod("a", ip="10.0.0.1"))
            bad = w.next_line(5)
            with self.assertRaises(ValueError):
                json.loads(bad)
            good = json.loads(w.next_line(5))
            self.assertEqual(good["object"]["metadata"]["name"], "a")
        self.srv.fault(type="malformed_event", mode="object")
        with self.srv.watch(f"/api/v1/pods?watch=1&resourceVersion={rv}") as w:
            ev = w.next_event(5)
            self.assertEqual(ev["object"]["metadata"], "oops")

    def test_malformed_list(self):
        self.srv.add(self.pods(4))
        self.srv.fault(type="malformed_list", mode="item", resource="pods")
        st, body = self.srv.get_json("/api/v1/pods")
        self.assertEqual(len(body["items"]), 5)
        self.assertIn("not-an-object", [i["metadata"] for i in body["items"]])
        self.srv.fault(type="malformed_list", mode="syntax")
        st, _, raw = self.srv.request("/api/v1/pods")
        self.assertEqual(st, 200)
        with self.assertRaises(ValueError):
            json.loads(raw)
        st, body = self.srv.get_json("/api/v1/pods")
        self.assertEqual(len(body["items"]), 4)

    def test_stall_watch(self):
        rv = self.list_rv()
        self.srv.fault(type="stall_watch", seconds=1.0)
        with self.srv.watch(f"/api/v1/pods?watch=1&resourceVersion={rv}") as w:
            t0 = time.monotonic()
            self.srv.add(O.pod("a", ip="10.0.0.1"))
            self.assertEqual(w.next_event(5)["type"], "ADDED")
            self.assertGreaterEqual(time.monotonic() - t0, 0.9)

    def test_fault_listing_and_clear(self):
        self.srv.fault(type="error", count=-1)
        self.assertEqual(len(self.srv.control("GET", "/faults")["faults"]), 1)
        self.assertEqual(self.srv.request("/api/v1/pods")[0], 500)
        self.assertEqual(self.srv.request("/api/v1/pods")[0], 500)
        self.srv.control("DELETE", "/faults")
        self.assertEqual(self.srv.request("/api/v1/pods")[0], 200)
        with self.assertRaises(RuntimeError):
            self.srv.fault(type="no-such-fault")


class ThroughputTest(ServerTest):
    def test_10000_events_in_order(self):
        rv = int(self.list_rv())
        n = 10000
        with self.srv.watch(f"/api/v1/pods?watch=1&resourceVersion={rv}", timeout=30) as w:
            t0 = time.monotonic()
            self.srv.add(self.pods(n))
            got = []
            for _ in range(n):
                ev = w.next_event(20)
                self.assertIsNotNone(ev, f"stream ended after {len(got)} events")
                got.append(ev)
            dt = time.monotonic() - t0
        self.assertEqual([int(e["object"]["metadata"]["resourceVersion"]) for e in got],
                         list(range(rv + 1, rv + n + 1)))
        self.assertEqual([e["object"]["metadata"]["name"] for e in got],
                         [f"p{i:05d}" for i in range(n)])
        self.assertLess(dt, 20, f"10,000 events took {dt:.1f}s")

    def test_ten_concurrent_watches(self):
        rv = self.list_rv()
        watches = [self.srv.watch(f"/api/v1/pods?watch=1&resourceVersion={rv}", timeout=20)
                   for _ in range(10)]
        try:
            self.srv.add(self.pods(500))
            for w in watches:
                evs = w.events(500, 15)
                self.assertEqual(evs[-1]["object"]["metadata"]["name"], "p00499")
        finally:
            for w in watches:
                w.close()


class LifecycleTest(unittest.TestCase):
    def test_sigterm_with_open_watch_and_objects_file(self):
        objs = O.demo_cluster()
        srv = FakeApiServer(objects={"kind": "List", "apiVersion": "v1", "items": objs})
        srv.start()
        self.addCleanup(srv.stop)
        st, body = srv.get_json("/api/v1/nodes")
        self.assertEqual(len(body["items"]), 2)
        w = srv.watch("/api/v1/pods?watch=1")
        self.addCleanup(w.close)
        w.next_event(5)
        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        self.assertEqual(srv.proc.wait(10), 0)
        self.assertLess(time.monotonic() - t0, 5)

    def test_script_form_and_ipv6(self):
        try:
            s = socket.socket(socket.AF_INET6)
            s.bind(("::1", 0))
            s.close()
        except OSError:
            self.skipTest("no IPv6 loopback")
        srv = FakeApiServer(extra_args=["--bind", "::1", "--san", "10.0.0.1"])
        srv.start()
        self.addCleanup(srv.stop)
        self.assertTrue(srv.info["url"].startswith("https://[::1]:"))
        self.assertEqual(srv.request("/api/v1/pods")[0], 200)
        out = subprocess.run([sys.executable, os.path.join(REPO, "sim", "fake_apiserver"),
                              "--help"], capture_output=True, timeout=20)
        self.assertEqual(out.returncode, 0)
        self.assertIn(b"--control-port", out.stdout)


if __name__ == "__main__":
    unittest.main()
