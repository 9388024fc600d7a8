"""End-to-end harness: simulated cluster (sim/ctsim) + the caretta agent + a real
Prometheus (Debian `prometheus`) scraping it on loopback, with PromQL helpers.

Every test: `with Env(...) as env:` brings everything up, and tears everything down
(agent, Prometheus, namespaces, fake apiserver) on exit, exception or SIGTERM.
Skips (exit 77, reason on stdout) when not root or when the agent or Prometheus is
missing. Standard library only.
"""

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO)

from sim.ctsim import cluster as C  # noqa: E402
from sim.ctsim import model as M  # noqa: E402
from sim.ctsim import truth as T  # noqa: E402

SKIP = 77
LINK_KEY = ("client_name", "client_namespace", "client_kind", "server_name",
            "server_namespace", "server_kind", "server_port", "role")


def skip(reason):
    print(f"SKIP: {reason}", flush=True)
    sys.exit(SKIP)


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def agent_binary():
    return os.environ.get("CARETTA_BIN") or os.path.join(REPO, "build", "caretta")


def prometheus_binary():
    return os.environ.get("PROMETHEUS_BIN") or shutil.which("prometheus")


def require_basics():
    if os.geteuid() != 0:
        skip("needs root (network namespaces, nftables, BPF)")
    if not os.access(agent_binary(), os.X_OK):
        skip(f"agent binary {agent_binary()} missing (build target caretta)")
    if not prometheus_binary():
        skip("prometheus not installed (Debian package prometheus)")
    for tool in ("ip", "nft", "nsenter", "unshare"):
        if not shutil.which(tool):
            skip(f"{tool} not installed")
    others = [i for i in C.instances()]
    if others:
        skip(f"another simulated cluster is running on this host ({', '.join(others)}); "
             f"its traffic would be mapped too — stop it with `sim/sim down --all`")


def agent_help():
    try:
        return subprocess.run([agent_binary(), "--help"], capture_output=True, text=True,
                              timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read().decode()


def parse_metrics(text):
    """Prometheus text → list of (name, labels dict, value)."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, labels, rest = line, {}, ""
        if "{" in line:
            name, _, tail = line.partition("{")
            body, _, rest = tail.rpartition("}")
            i = 0
            while i < len(body):
                eq = body.index("=", i)
                k = body[i:eq].strip(", ")
                j = eq + 2
                v = []
                while body[j] != '"':
                    if body[j] == "\\":
                        j += 1
                        v.append({"n": "\n"}.get(body[j], body[j]))
                    else:
                        v.append(body[j])
                    j += 1
                labels[k] = "".join(v)
                i = j + 1
        else:
            name, _, rest = line.partition(" ")
        out.append((name.strip(), labels, float(rest.split()[0])))
    return out


class Agent:
    def __init__(self, workdir, port, kubeconfig=None, extra_env=None):
        self.workdir, self.port, self.kubeconfig = workdir, port, kubeconfig
        self.extra_env = extra_env or {}
        self.proc = None
        self.starts = 0

    def start(self):
        self.starts += 1
        env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
               "HOME": self.workdir,  # no ~/.kube/config of the machine
               "POLL_INTERVAL": "1", "RESOLVE_DNS": "false",
               "LOG_LEVEL": os.environ.get("CARETTA_E2E_LOG_LEVEL", "info")}
        env.update(self.extra_env)
        args = [agent_binary(), "--prometheus-port", str(self.port),
                "--listen-address", "127.0.0.1"]
        if self.kubeconfig:
            args += ["--kubeconfig", self.kubeconfig]
        self.log_path = os.path.join(self.workdir, f"agent-{self.starts}.log")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT,
                                     env=env, start_new_session=True)
        end = time.monotonic() + 30
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"agent exited with {self.proc.returncode}: {self.log()}")
            try:
                if http_get(f"{self.url}/readyz", 2)[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("agent not ready after 30 s: " + self.log())

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def metrics(self):
        return parse_metrics(http_get(f"{self.url}/metrics")[1])

    def metric_value(self, name):
        for n, _, v in self.metrics():
            if n == name:
                return v
        return None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return ""


class Prometheus:
    def __init__(self, workdir, target_port, interval="1s"):
        self.workdir = workdir
        self.port = free_port()
        self.cfg = os.path.join(workdir, "prometheus.yml")
        with open(self.cfg, "w") as f:
            f.write(f"global:\n  scrape_interval: {interval}\n  evaluation_interval: {interval}\n"
                    f"scrape_configs:\n  - job_name: caretta\n    static_configs:\n"
                    f"      - targets: ['127.0.0.1:{target_port}']\n")
        self.proc = None

    def start(self):
        self._log = open(os.path.join(self.workdir, "prometheus.log"), "wb")
        self.proc = subprocess.Popen(
            [prometheus_binary(), f"--config.file={self.cfg}",
             f"--storage.tsdb.path={os.path.join(self.workdir, 'tsdb')}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        end = time.monotonic() + 30
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("prometheus exited early")
            try:
                if http_get(f"http://127.0.0.1:{self.port}/-/ready", 2)[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("prometheus not ready after 30 s")

    def query(self, promql, at=None):
        q = {"query": promql}
        if at is not None:
            q["time"] = f"{at:.3f}"
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode(q)
        _, body = http_get(url, 10)
        d = json.loads(body)
        if d.get("status") != "success":
            raise RuntimeError(f"PromQL error for {promql}: {d}")
        return d["data"]

    def vector(self, promql, at=None):
        d = self.query(promql, at)
        assert d["resultType"] == "vector", d["resultType"]
        return [(r["metric"], float(r["value"][1])) for r in d["result"]]

    def matrix(self, promql, at=None):
        d = self.query(promql, at)
        assert d["resultType"] == "matrix", d["resultType"]
        return [(r["metric"], [(float(t), float(v)) for t, v in r["values"]])
                for r in d["result"]]

    def last_scrape_ok(self):
        return self.vector('up{job="caretta"}')

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


class Env:
    """sim up + agent + Prometheus; everything removed on exit (also on SIGTERM)."""

    def __init__(self, instance, k8s=False, topology="boutique", agent_env=None):
        require_basics()
        self.instance = instance
        self.k8s_requested = k8s
        self.topology = topology
        self.agent_env = agent_env
        self.workdir = tempfile.mkdtemp(prefix=f"caretta-e2e-{instance}-")
        self.cluster = self.agent = self.prom = None
        self.k8s = False
        self._closed = False

    def __enter__(self):
        atexit.register(self.close)
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        try:
            model = M.Model(M.load(self.topology), self.instance)
            self.cluster = C.Cluster(model, quiet=False).up(apiserver=self.k8s_requested,
                                                           max_seconds=600)
            kubeconfig = None
            if self.k8s_requested:
                kubeconfig = self.cluster.state()["apiserver"]["kubeconfig"]
            # The simulated nodes do the Service NAT; their conntrack tables undo it.
            env = dict(self.agent_env or {})
            env.setdefault("CONNTRACK_NETNS", ",".join(
                f"/var/run/netns/{ns}"
                for ns in self.cluster.state()["conntrack_netns"].values()))
            self.agent = Agent(self.workdir, free_port(), kubeconfig, env).start()
            self.prom = Prometheus(self.workdir, self.agent.port).start()
            if self.k8s_requested:
                self.k8s = self._wait_k8s_synced()
        except BaseException:
            self.close()
            raise
        return self

    def _wait_k8s_synced(self, timeout=20):
        if "--kubeconfig" not in agent_help():
            return False
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.agent.metric_value("caretta_k8s_synced") == 1:
                return True
            time.sleep(0.5)
        return False

    def _on_signal(self, signum, _frame):
        self.close()
        sys.exit(128 + signum)

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        if self._closed:
            return
        self._closed = True
        failed = sys.exc_info()[0] is not None
        for x in (self.prom, self.agent):
            try:
                if x:
                    x.stop()
            except Exception as e:  # keep tearing down
                log(f"teardown: {e}")
        try:
            C.down(self.instance, quiet=True)
        except Exception as e:
            log(f"teardown: {e}")
        if os.environ.get("E2E_KEEP") or failed:
            log(f"logs kept in {self.workdir}")
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # ---- traffic & truth
    def traffic(self, scale=1.0):
        t0 = time.monotonic()
        run_id, _ = self.cluster.traffic(scale=scale, max_seconds=120, timeout=150)
        log(f"traffic {run_id} finished in {time.monotonic() - t0:.1f}s")
        return run_id

    def truth(self):
        return T.compute(self.cluster.m, self.cluster.rd, hostname=socket.gethostname())

    def view(self):
        return "k8s" if self.k8s else "host"


# ----------------------------------------------------------------- edge comparison

def edge_key(d):
    return tuple(str(d[k]) for k in LINK_KEY)


def expected_edges(truth, view, with_artifacts=True):
    exp = {}
    for e in truth["views"][view] + (truth["artifacts"].get(view, []) if with_artifacts else []):
        exp[edge_key(e)] = e
    return exp


def is_sim_series(labels, truth, view):
    ents = {tuple(x) for x in truth["entities"]["k8s" if view.startswith("k8s") else "host"]}
    c = (labels.get("client_name"), labels.get("client_namespace"), labels.get("client_kind"))
    s = (labels.get("server_name"), labels.get("server_namespace"), labels.get("server_kind"))
    return c in ents or s in ents


def observed(prom, metric, truth, view):
    """{edge key: value} for the sim's series of `metric` (summed over other labels)."""
    by = ", ".join(LINK_KEY)
    out = {}
    for labels, v in prom.vector(f"sum by ({by}) ({metric})"):
        if is_sim_series(labels, truth, view):
            out[edge_key(labels)] = v
    return out


def diff_edges(exp, obs, field):
    problems = []
    for k in sorted(set(exp) - set(obs)):
        problems.append(f"missing: {fmt(k)} (expected {field}={exp[k][field]})")
    for k in sorted(set(obs) - set(exp)):
        problems.append(f"extra:   {fmt(k)} = {obs[k]:.0f}")
    for k in sorted(set(exp) & set(obs)):
        if int(obs[k]) != int(exp[k][field]):
            problems.append(f"{field} differs: {fmt(k)} observed {obs[k]:.0f}, "
                            f"ground truth {exp[k][field]}")
    return problems


def fmt(k):
    d = dict(zip(LINK_KEY, k))
    return (f"{d['client_namespace']}/{d['client_name']}({d['client_kind']}) -> "
            f"{d['server_namespace']}/{d['server_name']}({d['server_kind']}):"
            f"{d['server_port']} role={d['role']}")


def wait_for(pred, timeout, interval=0.5):
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        last = pred()
        if last is True:
            return True
        time.sleep(interval)
    return last


class Checks:
    """Collects assertion results; prints a report; exit code 1 if any failed."""

    def __init__(self):
        self.failed = []
        self.passed = 0

    def check(self, name, problems):
        if isinstance(problems, bool):
            problems = [] if problems else ["condition false"]
        if problems:
            self.failed.append(name)
            log(f"FAIL {name}")
            for p in problems[:40]:
                print(f"       {p}")
            if len(problems) > 40:
                print(f"       ... {len(problems) - 40} more")
        else:
            self.passed += 1
            log(f"ok   {name}")

    def exit(self):
        log(f"{self.passed} passed, {len(self.failed)} failed")
        sys.exit(1 if self.failed else 0)
