#!/usr/bin/env python3
"""Runs the real `caretta` binary, makes real TCP traffic between two network
namespaces this test creates, and asserts on what /metrics says.

Exit code 77 (ctest SKIP) with a reason when root, BPF or promtool is missing.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.request

AGENT = sys.argv[1] if len(sys.argv) > 1 else "build/caretta"
PREFIX = f"cta{os.getpid() % 100000}"
NS = [f"{PREFIX}a", f"{PREFIX}b"]
BRIDGE_NS = f"{PREFIX}br"
SUBNET = 100 + os.getpid() % 100
IP = [f"10.232.{SUBNET}.2", f"10.232.{SUBNET}.3"]
IP6 = [f"fd00:cb:{SUBNET}::2", f"fd00:cb:{SUBNET}::3"]


def sh(cmd):
    subprocess.run(cmd, shell=True, check=True, capture_output=True, text=True)


def skip_reason():
    if os.geteuid() != 0:
        return "not root: the agent needs CAP_BPF/CAP_PERFMON"
    if not os.access("/sys/kernel/btf/vmlinux", os.R_OK):
        return "no kernel BTF"
    if not shutil.which("promtool"):
        return "promtool (Debian package prometheus) not installed"
    if not os.access(AGENT, os.X_OK):
        return f"agent binary {AGENT} not built"
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_network():
    sh(f"ip netns add {BRIDGE_NS}")
    sh(f"ip -n {BRIDGE_NS} link add br0 type bridge && ip -n {BRIDGE_NS} link set br0 up")
    for i, ns in enumerate(NS):
        sh(f"ip netns add {ns}")
        sh(f"ip link add {PREFIX}v{i} netns {BRIDGE_NS} type veth peer name eth0 netns {ns}")
        sh(f"ip -n {BRIDGE_NS} link set {PREFIX}v{i} master br0 up")
        sh(f"ip -n {ns} link set lo up")
        sh(f"ip -n {ns} addr add {IP[i]}/24 dev eth0")
        sh(f"ip -n {ns} addr add {IP6[i]}/64 dev eth0 nodad")
        sh(f"ip -n {ns} link set eth0 up")


def remove_network():
    for ns in NS + [BRIDGE_NS]:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


# A one-shot request/response pair: the server in NS[1] reads `request` bytes and
# answers `response` bytes; the client in NS[0] connects, sends, reads, closes.
SERVER = r"""
import socket, sys
fam = socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET
s = socket.socket(fam); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(16); s.settimeout(20)
print('listening', flush=True)
for _ in range(int(sys.argv[5])):
    c, _ = s.accept(); c.settimeout(20)
    need = int(sys.argv[3]); got = 0
    while got < need:
        b = c.recv(65536)
        if not b: break
        got += len(b)
    c.sendall(b'r' * int(sys.argv[4])); c.shutdown(socket.SHUT_WR)
    while c.recv(65536): pass
    c.close()
"""
CLIENT = r"""
import socket, sys
fam = socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET
for _ in range(int(sys.argv[5])):
    c = socket.socket(fam); c.settimeout(20)
    c.connect((sys.argv[1], int(sys.argv[2])))
    c.sendall(b'q' * int(sys.argv[3])); c.shutdown(socket.SHUT_WR)
    got = 0
    while True:
        b = c.recv(65536)
        if not b: break
        got += len(b)
    assert got == int(sys.argv[4]), got
    c.close()
"""


def exchange(server_ip, port, request, response, count=1):
    srv = subprocess.Popen(["ip", "netns", "exec", NS[1], sys.executable, "-c", SERVER, server_ip,
                            str(port), str(request), str(response), str(count)],
                           stdout=subprocess.PIPE, text=True)
    try:
        assert srv.stdout.readline().strip() == "listening"
        subprocess.run(["ip", "netns", "exec", NS[0], sys.executable, "-c", CLIENT, server_ip,
                        str(port), str(request), str(response), str(count)], check=True, timeout=60)
        srv.wait(timeout=30)
    finally:
        srv.kill()
        srv.stdout.close()


def parse_metrics(text):
    """{(name, frozenset(labels.items())): value}"""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line)
        assert m, f"unparseable line: {line!r}"
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        out[(m.group(1), frozenset(labels.items()))] = float(m.group(4))
    return out


def series(metrics, name, **labels):
    want = set(labels.items())
    return [v for (n, ls), v in metrics.items() if n == name and want <= set(ls)]


class AgentTest(unittest.TestCase):
    agent = None
    # How the agent finds open connections (SOCKET_DISCOVERY), and the listing
    # iterator that choice shows in caretta_probe_info.
    discovery = "auto"
    listing = "iter/task_file"  # the tests run in the host PID namespace
    command_prefix = []  # e.g. setpriv, to run the agent with fewer privileges

    @classmethod
    def setUpClass(cls):
        remove_network()
        make_network()
        cls.port = free_port()
        cls.log = open(f"/tmp/{PREFIX}-agent-{cls.__name__}.log", "w")
        # Loopback tracking on, so the scrapes below (over 127.0.0.1) would become a
        # link if the agent did not recognise its own sockets.
        cls.agent = subprocess.Popen(cls.command_prefix + [AGENT, "--prometheus-port", str(cls.port), "--poll-interval", "1",
                                      "--listen-address", "127.0.0.1", "--track-loopback", "true",
                                      # other load on the host must not fill our table
                                      "--max-connections", "1000000"],
                                     env={**os.environ, "SOCKET_DISCOVERY": cls.discovery},
                                     stdout=cls.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                if cls.get("/readyz")[0] == 200:
                    return
            except OSError:
                pass
            if cls.agent.poll() is not None:
                cls.log.flush()
                with open(cls.log.name) as f:
                    text = f.read()
                if "kernel refuses" in text:  # a missing kernel feature, said by the agent
                    cls.log.close()
                    remove_network()
                    raise unittest.SkipTest(text.strip().splitlines()[-1])
                raise RuntimeError(f"agent exited with {cls.agent.returncode}, see {cls.log.name}")
            time.sleep(0.2)
        raise RuntimeError("agent not ready within 20 s")

    @classmethod
    def tearDownClass(cls):
        if cls.agent and cls.agent.poll() is None:
            cls.agent.kill()
        cls.log.close()
        remove_network()

    @classmethod
    def get(cls, path):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{cls.port}{path}", timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def scrape(self):
        status, text = self.get("/metrics")
        self.assertEqual(status, 200)
        return text

    def wait_for(self, predicate, timeout=10):
        deadline = time.time() + timeout
        while True:
            metrics = parse_metrics(self.scrape())
            if predicate(metrics) or time.time() > deadline:
                return metrics
            time.sleep(0.5)

    def check_exchange(self, server_ip, port, request, response, count):
        exchange(server_ip, port, request, response, count)
        link = dict(client_name=NS[0], client_namespace="node", client_kind="node",
                    server_name=NS[1], server_namespace="node", server_kind="node",
                    server_port=str(port))
        m = self.wait_for(lambda m: series(m, "caretta_link_bytes_received_total", role="2", **link)
                          == [request * count]
                          and series(m, "caretta_link_bytes_received_total", role="1", **link)
                          == [response * count])
        # Caretta's value: bytes sent by the observing end, cumulative.
        self.assertEqual(series(m, "caretta_links_observed", role="1", **link), [request * count])
        self.assertEqual(series(m, "caretta_links_observed", role="2", **link), [response * count])
        self.assertEqual(series(m, "caretta_link_bytes_received_total", role="1", **link),
                         [response * count])
        self.assertEqual(series(m, "caretta_link_bytes_received_total", role="2", **link),
                         [request * count])
        self.assertEqual(series(m, "caretta_link_connections_opened_total", role="1", **link),
                         [count])
        self.assertEqual(series(m, "caretta_tcp_states", role="1", **link), [5])  # closed

    def test_probe_info_names_the_listing(self):
        m = parse_metrics(self.scrape())
        self.assertEqual(series(m, "caretta_probe_info", counter_source=self.listing), [1])

    def test_ipv4_links_exact_bytes_both_roles(self):
        self.check_exchange(IP[1], 18080, 12345, 67890, 3)

    def test_ipv6_links_exact_bytes_both_roles(self):
        self.check_exchange(IP6[1], 18081, 4321, 8765, 2)

    def test_refused_connect_is_counted_not_linked(self):
        code = ("import socket\ns=socket.socket()\ntry:\n s.connect(('%s', 18099))\n"
                "except ConnectionRefusedError:\n pass\n" % IP[1])
        subprocess.run(["ip", "netns", "exec", NS[0], sys.executable, "-c", code], check=True)
        m = self.wait_for(lambda m: series(m, "caretta_link_failed_connects_total",
                                           server_port="18099"))
        self.assertEqual(series(m, "caretta_link_failed_connects_total", client_name=NS[0],
                                server_name=NS[1], server_port="18099"), [1])
        self.assertEqual(series(m, "caretta_links_observed", server_port="18099"), [])

    def test_own_scrapes_are_not_counted(self):
        for _ in range(5):
            self.scrape()
        m = self.wait_for(lambda m: False, timeout=2)
        self.assertEqual(series(m, "caretta_links_observed", server_port=str(self.port)), [])
        self.assertGreater(series(m, "caretta_kernel_events_total", event="self_skipped")[0], 0)

    def test_metrics_pass_promtool(self):
        exchange(IP[1], 18082, 10, 10)
        text = self.scrape()
        r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                           text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn('caretta_probe_info{state_hook="tp_btf/inet_sock_set_state"', text)

    def test_hostile_http_requests_do_not_hurt(self):
        for raw in [b"GARBAGE\r\n\r\n", b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\n\r\n",
                    b"POST /metrics HTTP/1.1\r\nContent-Length: 999999999\r\n\r\nxx",
                    b"GET /metrics HTTP/1.1\r\n" + b"X: y\r\n" * 5000 + b"\r\n", b"\x00\xff" * 100]:
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
                try:
                    s.sendall(raw)
                    s.recv(1024)
                except OSError:
                    pass
        for path in ["/api/graph?window=abc", "/api/graph?window=-5", "/api/graph?window=1e999",
                     "/../../etc/passwd", "/nope"]:
            status, _ = self.get(path)
            self.assertIn(status, (400, 404), path)
        self.assertEqual(self.get("/healthz")[0], 200)
        status, body = self.get("/api/graph?window=60")
        self.assertEqual(status, 200)
        self.assertIn('"edges"', body)
        self.assertIsNone(self.agent.poll(), "agent died")

    def test_graph_from_prometheus_matches_the_agent(self):
        """`caretta ui --graph-source prometheus=URL` rebuilds the agent's map from PromQL."""
        exchange(IP[1], 18083, 777, 333)
        time.sleep(1.5)  # one poll
        prom_port, ui_port = free_port(), free_port()
        data = f"/tmp/{PREFIX}-prom"
        shutil.rmtree(data, ignore_errors=True)
        os.makedirs(data)
        with open(f"{data}/prometheus.yml", "w") as f:
            f.write("global: {scrape_interval: 1s}\nscrape_configs:\n - job_name: caretta\n"
                    f"   static_configs: [{{targets: ['127.0.0.1:{self.port}']}}]\n")
        prom = subprocess.Popen(["prometheus", f"--config.file={data}/prometheus.yml",
                                 f"--storage.tsdb.path={data}/tsdb",
                                 f"--web.listen-address=127.0.0.1:{prom_port}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ui = subprocess.Popen([AGENT, "ui", "--graph-source", f"prometheus=http://127.0.0.1:{prom_port}",
                               "--prometheus-port", str(ui_port), "--listen-address", "127.0.0.1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        dead_port = free_port()
        dead = subprocess.Popen([AGENT, "ui", "--graph-source", "prometheus=http://127.0.0.1:1",
                                 "--prometheus-port", str(dead_port), "--listen-address",
                                 "127.0.0.1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            def edge(graph):
                names = {n["id"]: n["name"] for n in graph["nodes"]}
                for e in graph["edges"]:
                    if (names.get(e["source"]), names.get(e["target"]), e["server_port"]) == \
                            (NS[0], NS[1], 18083):
                        return e
                return None
            want = edge(json.loads(self.get("/api/graph?window=60")[1]))
            self.assertIsNotNone(want)
            got, deadline = None, time.time() + 30
            while time.time() < deadline and not (got and got["bytes_client_to_server"] == 777):
                time.sleep(1)
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/api/graph?window=60",
                                                timeout=5) as r:
                        graph = json.loads(r.read())
                        self.assertEqual(graph["source"], "prometheus")
                        got = edge(graph)
                except (OSError, ValueError):
                    pass
            self.assertIsNotNone(got, "edge never appeared in the Prometheus-built graph")
            for field in ("bytes_client_to_server", "bytes_server_to_client", "connections"):
                self.assertEqual(got[field], want[field], field)
            self.assertEqual((got["bytes_client_to_server"], got["bytes_server_to_client"]), (777, 333))
            # A dead Prometheus: a clear 502, and the ui server keeps running.
            with self.assertRaises(urllib.error.HTTPError) as ctx:
                urllib.request.urlopen(f"http://127.0.0.1:{dead_port}/api/graph?window=60",
                                       timeout=15)
            self.assertEqual(ctx.exception.code, 502)
            self.assertIn("error", json.loads(ctx.exception.read()))
            self.assertIsNone(dead.poll())
        finally:
            for p in (prom, ui, dead):
                p.kill()
                p.wait()
            shutil.rmtree(data, ignore_errors=True)

    def test_zz_sigterm_detaches_cleanly(self):
        self.agent.send_signal(signal.SIGTERM)
        self.assertEqual(self.agent.wait(timeout=15), 0)
        progs = subprocess.run(["bpftool", "prog", "show"], capture_output=True, text=True).stdout
        # Our programs belong to this agent only if no other tracer runs; check by pid.
        self.assertNotIn(f"pids caretta({self.agent.pid})", progs)


class AgentOpenDiscoveryTest(AgentTest):
    """The same agent with socket storage attached at each connection's open (what
    it does outside the host PID namespace): same links, same bytes."""
    discovery = "open"
    listing = "iter/bpf_sk_storage_map"
    # Covered above; they test HTTP and PromQL, not how sockets are found.
    test_hostile_http_requests_do_not_hurt = None
    test_graph_from_prometheus_matches_the_agent = None
    test_metrics_pass_promtool = None


class LeastPrivilegeAgentTest(AgentTest):
    """What the chart grants by default, made true: the agent as an unprivileged
    user (uid 65534) with only CAP_BPF and CAP_PERFMON maps links to the byte."""
    command_prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                      "--inh-caps=-all,+bpf,+perfmon", "--ambient-caps=-all,+bpf,+perfmon",
                      "--bounding-set=-all,+bpf,+perfmon"]
    test_hostile_http_requests_do_not_hurt = None
    test_graph_from_prometheus_matches_the_agent = None
    test_metrics_pass_promtool = None
    test_own_scrapes_are_not_counted = None

    # Naming peers by network namespace needs setns (CAP_SYS_ADMIN): here each end
    # names its own namespace and sees the peer as its IP, bytes exact all the same.
    test_refused_connect_is_counted_not_linked = None

    def check_exchange(self, server_ip, port, request, response, count):
        exchange(server_ip, port, request, response, count)
        client_ip = IP6[0] if ":" in server_ip else IP[0]
        client_view = dict(client_name=NS[0], client_kind="node", server_name=server_ip,
                           server_kind="external", server_port=str(port), role="1")
        server_view = dict(client_name=client_ip, client_kind="external", server_name=NS[1],
                           server_kind="node", server_port=str(port), role="2")
        m = self.wait_for(
            lambda m: series(m, "caretta_link_bytes_received_total", **client_view)
            == [response * count]
            and series(m, "caretta_link_bytes_received_total", **server_view) == [request * count])
        self.assertEqual(series(m, "caretta_links_observed", **client_view), [request * count])
        self.assertEqual(series(m, "caretta_links_observed", **server_view), [response * count])
        self.assertEqual(series(m, "caretta_link_bytes_received_total", **client_view),
                         [response * count])
        self.assertEqual(series(m, "caretta_link_bytes_received_total", **server_view),
                         [request * count])

    def test_runs_with_exactly_those_capabilities(self):
        with open(f"/proc/{self.agent.pid}/status") as f:
            status = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
        self.assertEqual(status["Uid"].split()[1], "65534")
        self.assertEqual(int(status["CapEff"], 16), (1 << 38) | (1 << 39))  # PERFMON, BPF


class BadFlagsTest(unittest.TestCase):
    def test_bad_values_exit_2(self):
        for args, env in [(["--poll-interval", "x"], {}), ([], {"RESOLVE_DNS": "perhaps"}),
                          (["--nope"], {})]:
            r = subprocess.run([AGENT] + args, env={**os.environ, **env}, capture_output=True,
                               text=True, timeout=10)
            self.assertEqual(r.returncode, 2, (args, env, r.stderr))
            self.assertIn("caretta", r.stderr)


if __name__ == "__main__":
    reason = skip_reason()
    if reason:
        print(f"SKIP: {reason}")
        sys.exit(77)
    try:
        unittest.main(argv=[sys.argv[0], "-v"], exit=True)
    finally:
        remove_network()
