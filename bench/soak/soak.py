#!/usr/bin/env python3
"""Soak benchmark driver (started by bench/soak/run.sh; needs root).

Runs the real agent for SOAK_SECONDS under connection churn (caretta_netload crr at
the highest rate this machine drives) plus waves of long-lived connections
(caretta_netload hold), samples the agent every SOAK_SAMPLE_SECONDS (RSS, CPU, tracked
sockets, drops), then compares the byte totals the agent exports with the
generators' own counts, and writes a Markdown report.

Traffic flows only between two network namespaces this script creates (names start
with $CARETTA_BENCH_NS_TAG); every generator is bounded in time and count; the
namespaces and children are removed on exit, on failure and on SIGINT/SIGTERM.
"""
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

# ---------------------------------------------------------------- configuration


def env_int(name, default):
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


AGENT = sys.argv[1]
NETLOAD = sys.argv[2]
OUT = sys.argv[3]
DURATION = env_int("SOAK_SECONDS", 600)
WARMUP = env_int("SOAK_WARMUP_SECONDS", DURATION // 5)
SAMPLE = env_int("SOAK_SAMPLE_SECONDS", 10)
POLL = env_int("SOAK_POLL_INTERVAL", 5)
CLIENTS = env_int("SOAK_CLIENTS", 0)  # 0: calibrate (the most connections/s)
CALIBRATE_SECONDS = env_int("SOAK_CALIBRATE_SECONDS", 4)
MSG = env_int("SOAK_MSG", 64)  # bytes each way per churn transaction
WAVE_PERIOD = env_int("SOAK_WAVE_PERIOD", 60)
WAVE_CONNS = env_int("SOAK_WAVE_CONNS", 2000)
WAVE_HOLD = env_int("SOAK_WAVE_HOLD", 30)
WAVE_MSG = env_int("SOAK_WAVE_MSG", 16)  # bytes each way once per long-lived connection
MAX_CONNECTIONS = env_int("SOAK_MAX_CONNECTIONS", 1_000_000)
TAG = os.environ.get("CARETTA_BENCH_NS_TAG", f"cso{os.getpid()}")
CLIENT_NS, SERVER_NS = f"{TAG}nc", f"{TAG}ns"
SUBNET = f"10.213.{os.getpid() % 250}"  # unused elsewhere in the repo's tests
CLIENT_IP, SERVER_IP = f"{SUBNET}.1", f"{SUBNET}.2"
CHURN_PORT = 20000  # client i talks to its own server on CHURN_PORT + i
HOLD_PORT = 21000
MAX_CLIENTS = 8

children = []  # every process started, killed in cleanup()
workdir = tempfile.mkdtemp(prefix="caretta-soak.")


def log(msg):
    print(f"[soak {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def sh(cmd):
    r = subprocess.run(cmd, shell=True, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"`{cmd}` failed: {r.stderr.strip()}")
    return r.stdout


def spawn(argv, **kw):
    p = subprocess.Popen(argv, **kw)
    children.append(p)
    return p


def cleanup():
    for p in children:
        if p.poll() is None:
            p.kill()
    for p in children:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    for ns in (CLIENT_NS, SERVER_NS):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def on_signal(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


# ---------------------------------------------------------------- network


def make_network():
    sh(f"ip netns add {CLIENT_NS}")
    sh(f"ip netns add {SERVER_NS}")
    sh(f"ip link add eth0 netns {CLIENT_NS} type veth peer name eth0 netns {SERVER_NS}")
    for ns, ip in ((CLIENT_NS, CLIENT_IP), (SERVER_NS, SERVER_IP)):
        sh(f"ip -n {ns} link set lo up && ip -n {ns} link set eth0 up")
        sh(f"ip -n {ns} addr add {ip}/24 dev eth0")
    # The client closes first, so its ports sit in TIME_WAIT: reuse them (tcp_tw_reuse)
    # from the whole range, or the churn stops at ~470 connections/s per port pair.
    sh(f"ip netns exec {CLIENT_NS} sysctl -q -w net.ipv4.ip_local_port_range='1024 65535'")
    sh(f"ip netns exec {CLIENT_NS} sysctl -q -w net.ipv4.tcp_tw_reuse=1")
    sh(f"ip netns exec {SERVER_NS} sysctl -q -w net.core.somaxconn=8192")


def start_servers(count, seconds):
    servers = []
    for i in range(count):
        p = spawn(["ip", "netns", "exec", SERVER_NS, NETLOAD, "serve", "--addr", SERVER_IP,
                   "--port", str(CHURN_PORT + i), "--max-seconds", str(seconds)],
                  stdout=subprocess.PIPE, text=True)
        if p.stdout.readline().strip() != "listening":
            raise RuntimeError("a churn server did not start")
        servers.append(p)
    return servers


def stop(procs):
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        p.wait(timeout=10)


def parse_kv(line):
    return {k: float(v) for k, v in (f.split("=", 1) for f in line.split() if "=" in f)}


def churn_clients(count, seconds, counter_files=None):
    """Starts `count` crr clients, client i against server i."""
    procs = []
    for i in range(count):
        argv = ["ip", "netns", "exec", CLIENT_NS, NETLOAD, "crr", "--addr", SERVER_IP,
                "--port", str(CHURN_PORT + i), "--seconds", str(seconds), "--msg", str(MSG),
                "--max-tx", "500000000"]
        if counter_files:
            argv += ["--counter-file", counter_files[i]]
        procs.append(spawn(argv, stdout=subprocess.PIPE, text=True))
    return procs


def finish_clients(procs, timeout):
    results = []
    for p in procs:
        out, _ = p.communicate(timeout=timeout)
        line = out.strip().splitlines()[-1] if out.strip() else ""
        kv = parse_kv(line)
        kv["exit"] = p.returncode
        results.append(kv)
    return results


def calibrate():
    """The number of parallel crr clients that drives the most connections/s here."""
    best = (0, 1)
    trials = []
    for n in (1, 2, 3, 4):
        servers = start_servers(n, CALIBRATE_SECONDS + 30)
        try:
            rate = sum(r.get("tps", 0) for r in
                       finish_clients(churn_clients(n, CALIBRATE_SECONDS), CALIBRATE_SECONDS + 30))
        finally:
            stop(servers)
        trials.append((n, rate))
        log(f"calibration: {n} client(s): {rate:.0f} connections/s")
        if rate > best[0]:
            best = (rate, n)
    return best[1], trials


# ---------------------------------------------------------------- agent


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Agent:
    def __init__(self):
        self.port = free_port()
        self.log_path = os.path.join(workdir, "agent.log")
        self.log = open(self.log_path, "w")
        self.proc = spawn([AGENT, "--prometheus-port", str(self.port), "--listen-address",
                           "127.0.0.1", "--poll-interval", str(POLL), "--max-connections",
                           str(MAX_CONNECTIONS)], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"agent exited with {self.proc.returncode}: "
                                   f"{self.tail_log()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=5) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("agent not ready within 30 s")

    def tail_log(self):
        self.log.flush()
        with open(self.log_path) as f:
            return "".join(f.readlines()[-5:]).strip()

    def metrics(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=20) as r:
            text = r.read().decode()
        self.last_metrics_bytes = len(text)
        return parse_metrics(text)

    def status_kib(self, field):
        """A KiB figure of /proc/PID/status: VmRSS, RssAnon, VmHWM ..."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        return 0

    def cpu_seconds(self):
        """user + system time of every thread (/proc/PID/stat fields 14 and 15)."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def wait_polls(self, count, timeout):
        start = self.metrics()
        p0 = value(start, "caretta_polls_total")
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = self.metrics()
            if value(m, "caretta_polls_total") >= p0 + count:
                return m
            time.sleep(0.5)
        raise RuntimeError(f"the agent did not complete {count} polls in {timeout} s")


def parse_metrics(text):
    """[(name, {labels}, value)] from Prometheus text; label values unescaped."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_end = len(line)
        for i, ch in enumerate(line):
            if ch in "{ ":
                name_end = i
                break
        name, labels, rest = line[:name_end], {}, line[name_end:]
        if rest.startswith("{"):
            i = 1
            while rest[i] != "}":
                eq = rest.index("=", i)
                key = rest[i:eq].strip().lstrip(",").strip()
                j, val = eq + 2, []
                while rest[j] != '"':
                    if rest[j] == "\\":
                        j += 1
                        val.append({"n": "\n"}.get(rest[j], rest[j]))
                    else:
                        val.append(rest[j])
                    j += 1
                labels[key] = "".join(val)
                i = j + 1
                if rest[i] == ",":
                    i += 1
            rest = rest[i + 1:]
        text_value = rest.split()[0]
        num = int(text_value) if text_value.lstrip("-").isdigit() else float(text_value)
        out.append((name, labels, num))
    return out


def select(metrics, name, **labels):
    return [(ls, v) for n, ls, v in metrics if n == name and
            all(ls.get(k) == v2 for k, v2 in labels.items())]


def value(metrics, name, **labels):
    return sum(v for _, v in select(metrics, name, **labels))


def link_value(metrics, name, port, role):
    return value(metrics, name, client_name=CLIENT_NS, server_name=SERVER_NS,
                 server_port=str(port), role=str(role))


# ---------------------------------------------------------------- waves


class Waves(threading.Thread):
    """Every WAVE_PERIOD s: WAVE_CONNS connections opened, WAVE_MSG bytes exchanged once
    each way on each, held WAVE_HOLD s, then reset (netload hold's abortive close)."""

    def __init__(self, t0, end):
        super().__init__(daemon=True)
        self.t0, self.end = t0, end
        self.results = []  # dicts: start, ready_after, exit, conns
        self.held = 0  # connections held now (for the samples)
        self.stop_event = threading.Event()

    def run(self):
        k = 0
        while not self.stop_event.is_set():
            start = self.t0 + 15 + k * WAVE_PERIOD
            if start + WAVE_HOLD + 10 > self.end:
                return
            if self.stop_event.wait(max(0.0, start - time.time())):
                return
            self.results.append(self.one_wave(start))
            k += 1

    def one_wave(self, start):
        res = {"start": round(start - self.t0), "conns": WAVE_CONNS, "ready_after": None}
        p = spawn([NETLOAD, "hold", "--server-ns", f"/var/run/netns/{SERVER_NS}",
                   "--client-ns", f"/var/run/netns/{CLIENT_NS}", "--addr", SERVER_IP,
                   "--port", str(HOLD_PORT), "--conns", str(WAVE_CONNS), "--msg", str(WAVE_MSG),
                   "--max-seconds", str(WAVE_HOLD + 90)],
                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = p.stdout.readline().strip()  # the holder's own time limit bounds this read
        if line == f"ready {WAVE_CONNS}":
            res["ready_after"] = round(time.time() - start, 2)
            self.held = WAVE_CONNS
            self.stop_event.wait(WAVE_HOLD)
        p.stdin.close()
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        self.held = 0
        res["exit"] = p.returncode
        return res


# ---------------------------------------------------------------- statistics


def fit_slope(points):
    """Least-squares slope and its standard error for [(x, y)]."""
    n = len(points)
    if n < 3:
        return None, None
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    sxy = sum((x - mx) * (y - my) for x, y in points)
    slope = sxy / sxx
    resid = sum((y - my - slope * (x - mx)) ** 2 for x, y in points)
    return slope, (resid / (n - 2) / sxx) ** 0.5


def machine_cpu():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v[:8]) - idle, sum(v[:8])


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


# ---------------------------------------------------------------- the run


def main():
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    make_network()
    load_at_start = loadavg()
    trials = []
    clients = CLIENTS
    if clients <= 0:
        clients, trials = calibrate()
    clients = min(clients, MAX_CLIENTS)
    log(f"churn: {clients} crr client(s) for {DURATION} s, waves of {WAVE_CONNS} every "
        f"{WAVE_PERIOD} s")

    agent = Agent()
    agent_started = time.time()
    servers = start_servers(clients, DURATION + 300)
    counters = []
    for i in range(clients):
        path = os.path.join(workdir, f"counter{i}")
        with open(path, "wb") as f:
            f.write(b"\0" * 8)
        counters.append(path)

    def transactions():
        total = 0
        for path in counters:
            with open(path, "rb") as f:
                total += struct.unpack("=Q", f.read(8))[0]
        return total

    samples = []
    busy0, total0 = machine_cpu()
    t0 = time.time()
    end = t0 + DURATION
    procs = churn_clients(clients, DURATION, counters)
    waves = Waves(t0, end)
    waves.start()
    last = (t0, agent.cpu_seconds(), 0)
    next_sample = t0 + SAMPLE
    while True:
        time.sleep(max(0.0, next_sample - time.time()))
        now, cpu, tx = time.time(), agent.cpu_seconds(), transactions()
        if agent.proc.poll() is not None:
            raise RuntimeError(f"agent exited with {agent.proc.returncode} during the soak: "
                               f"{agent.tail_log()}")
        m = agent.metrics()
        samples.append({
            "t": round(now - t0, 1),
            "rss_kib": agent.status_kib("VmRSS"),
            "anon_kib": agent.status_kib("RssAnon"),
            "links": value(m, "caretta_links"),
            "other_links": len({(ls.get("client_name"), ls.get("server_name"), ls.get("server_port"),
                                 ls.get("role")) for ls, _ in
                                select(m, "caretta_link_bytes_sent_total")
                                if ls.get("client_name") != CLIENT_NS}),
            "metrics_kib": agent.last_metrics_bytes / 1024,
            "cpu_pct": 100 * (cpu - last[1]) / (now - last[0]),
            "tracked": value(m, "caretta_tracked_sockets"),
            "conn_per_s": (tx - last[2]) / (now - last[0]),
            "held": waves.held,
            "drops": sum(v for _, v in select(m, "caretta_dropped_total")),
        })
        s = samples[-1]
        log(f"t={s['t']:.0f}s rss={s['rss_kib'] / 1024:.1f}MiB links={s['links']} "
            f"other={s['other_links']} cpu={s['cpu_pct']:.1f}% "
            f"tracked={s['tracked']} conn/s={s['conn_per_s']:.0f} held={s['held']} "
            f"drops={s['drops']}")
        last = (now, cpu, tx)
        next_sample += SAMPLE
        if next_sample > end + 0.5:
            break

    churn = finish_clients(procs, 120)
    churn_end = time.time()
    waves.join(timeout=WAVE_HOLD + 150)
    busy1, total1 = machine_cpu()
    load_at_end = loadavg()
    stop(servers)
    # Compare only after every generator connection is closed and the agent has
    # completed polls that started after that (its final deltas folded in).
    final = agent.wait_polls(3, 12 * POLL + 30)
    after = agent.wait_polls(1, 4 * POLL + 30)  # one more poll: totals must not move
    report = {
        "agent_seconds": round(time.time() - agent_started),
        "clients": clients, "trials": trials, "samples": samples, "churn": churn,
        "churn_seconds": churn_end - t0, "waves": waves.results,
        "machine_busy_pct": 100 * (busy1 - busy0) / max(1, total1 - total0),
        "load_at_start": load_at_start, "load_at_end": load_at_end,
        "hwm_kib": agent.status_kib("VmHWM"), "final": final, "after": after,
        "agent_log": agent.tail_log(),
    }
    return report


# ---------------------------------------------------------------- report


def write_report(r):
    samples = [s for s in r["samples"]]
    post = [(s["t"] / 60, s["rss_kib"]) for s in samples if s["t"] >= WARMUP]
    slope, stderr = fit_slope(post)
    final, after = r["final"], r["after"]

    rows, total_lost, stable, conns_missing = [], 0, True, 0
    io_errors = 0
    for i, c in enumerate(r["churn"]):
        tx, errs = int(c.get("transactions", 0)), int(c.get("errors", 0))
        cerr = int(c.get("connect_errors", 0))
        io_errors += errs - cerr
        rows.append((f"churn {i} (crr)", CHURN_PORT + i, tx * MSG, tx + errs - cerr))
    hold_ok = [w for w in r["waves"] if w["exit"] == 0 and w["ready_after"] is not None]
    hold_bad = [w for w in r["waves"] if w not in hold_ok]
    rows.append(("long-lived waves (hold)", HOLD_PORT, len(hold_ok) * WAVE_CONNS * WAVE_MSG,
                 len(hold_ok) * WAVE_CONNS))

    families = [("client sent", "caretta_link_bytes_sent_total", 1),
                ("client received", "caretta_link_bytes_received_total", 1),
                ("server received", "caretta_link_bytes_received_total", 2),
                ("server sent", "caretta_link_bytes_sent_total", 2)]
    byte_lines, conn_lines = [], []
    for label, port, expected, conns in rows:
        cells = []
        for _, fam, role in families:
            got = link_value(final, fam, port, role)
            if link_value(after, fam, port, role) != got:
                stable = False
            total_lost += max(0, expected - got)
            cells.append(f"{got:,}" + ("" if got == expected else f" (**{got - expected:+,}**)"))
        byte_lines.append(f"| {label} | {port} | {expected:,} | " + " | ".join(cells) + " |")
        opened = [link_value(final, "caretta_link_connections_opened_total", port, role)
                  for role in (1, 2)]
        conns_missing += sum(max(0, conns - n) for n in opened)
        active = [link_value(final, "caretta_link_active_connections", port, role)
                  for role in (1, 2)]
        conn_lines.append(f"| {label} | {port} | {conns:,} | {opened[0]:,} | {opened[1]:,} | "
                          f"{active[0]} | {active[1]} |")

    drops = sorted((ls.get("cause", ""), v) for ls, v in select(final, "caretta_dropped_total"))
    over_cap = value(final, "caretta_links_over_cap_total")
    total_tx = sum(int(c.get("transactions", 0)) for c in r["churn"])
    rate = total_tx / r["churn_seconds"]
    load_samples = [s for s in samples if s["t"] > SAMPLE]  # first window includes start-up
    rates = [s["conn_per_s"] for s in load_samples] or [0]
    cpus = [s["cpu_pct"] for s in load_samples] or [0]
    rss_post = [kib for _, kib in post] or [0]
    polls = value(final, "caretta_polls_total")
    poll_sum = value(final, "caretta_poll_duration_seconds_sum")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "src", "bpf", "bench",
                            ":(exclude)bench/results"],
                           capture_output=True, text=True).stdout.strip()
    cpu_model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                      if l.startswith("model name")), "?")
    verdict_bytes = "PASS" if total_lost == 0 and io_errors == 0 and not hold_bad else "FAIL"
    flat = slope is not None and (abs(slope) <= 2 * stderr or abs(slope) < 16)
    exact = all("**" not in line for line in byte_lines)

    md = []
    md += ["# Soak benchmark", "",
           "Generated by `bench/soak/run.sh` — do not edit by hand.", "",
           f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
           f"- Kernel: {os.uname().release}, {os.cpu_count()} CPUs ({cpu_model})",
           f"- Source: commit {commit}" + (" + uncommitted changes in src/, bpf/ or bench/"
                                           if dirty else ""),
           f"- Machine: **shared** — other work (compiles, tests) ran on the same "
           f"{os.cpu_count()} cores during this run; load average {r['load_at_start']} at the "
           f"start, {r['load_at_end']} at the end; whole machine "
           f"{r['machine_busy_pct']:.0f} % busy during the soak. The connection rate is what "
           f"the machine drove under that load, not its idle peak. The agent maps the whole "
           f"host, so the other work's connections are links in it too (counted per sample "
           f"below): part of its memory is theirs.",
           f"- Reproduce (as root): `SOAK_SECONDS={DURATION} bash bench/soak/run.sh build`", ""]
    md += ["## Results", "",
           "| measure | value | goal | verdict |", "|---|---|---|---|",
           f"| RSS slope after {WARMUP} s warm-up (least squares, {len(post)} samples) | "
           + (f"{slope:+.1f} ± {stderr:.1f} KiB/min ({slope * 60 / 1024:+.2f} MiB/hour)"
              if slope is not None else "n/a (too few samples)")
           + f" | flat | {'PASS' if flat else 'FAIL'} |",
           f"| RSS after warm-up: min / mean / max | {min(rss_post) / 1024:.1f} / "
           f"{sum(rss_post) / len(rss_post) / 1024:.1f} / {max(rss_post) / 1024:.1f} MiB "
           f"(peak VmHWM {r['hwm_kib'] / 1024:.1f} MiB) | — | — |",
           f"| bytes lost (generator − agent, summed over links, roles and directions) | "
           f"{total_lost:,} | 0 | {verdict_bytes} |",
           f"| every byte total exact (no loss, no excess) | {'yes' if exact else 'no'} | yes | "
           f"{'PASS' if exact else 'FAIL'} |",
           f"| connections missing from `caretta_link_connections_opened_total` (summed over "
           f"roles) | {conns_missing:,} | 0 | {'PASS' if conns_missing == 0 else 'FAIL'} |",
           f"| totals unchanged by one more poll | {'yes' if stable else 'no'} | yes | "
           f"{'PASS' if stable else 'FAIL'} |",
           "| drops by cause (`caretta_dropped_total`, whole agent) | "
           + (", ".join(f"{c}={v:,}" for c, v in drops if v) or "none")
           + (" (0 for " + ", ".join(c for c, v in drops if not v) + ")"
              if any(not v for _, v in drops) else "")
           + " | 0 | " + ("PASS" if all(v == 0 for _, v in drops) else "FAIL") + " |",
           f"| links over cap (`caretta_links_over_cap_total`) | {over_cap:,} | 0 | "
           f"{'PASS' if over_cap == 0 else 'FAIL'} |",
           f"| churn connections/s (whole run; {r['clients']} crr client(s)) | {rate:,.0f} "
           f"(10-s windows: min {min(rates):,.0f}, max {max(rates):,.0f}) | highest the machine "
           f"drives | — |",
           f"| churn connections (transactions) in total | {total_tx:,} | — | — |",
           f"| agent CPU, user+sys (% of one core, 10-s windows) | mean {sum(cpus) / len(cpus):.1f}, "
           f"max {max(cpus):.1f} | — | — |",
           f"| links exported, first / last sample (of them other host traffic) | "
           f"{samples[0]['links']:,} ({samples[0]['other_links']:,}) / {samples[-1]['links']:,} "
           f"({samples[-1]['other_links']:,}) | — | — |",
           f"| agent polls / mean poll duration | {polls:,} / "
           f"{1000 * poll_sum / max(1, polls):.1f} ms | — | — |",
           f"| long-lived waves completed | {len(hold_ok)} of {len(r['waves'])} "
           f"({WAVE_CONNS:,} connections each) | all | "
           f"{'PASS' if not hold_bad else 'FAIL'} |", ""]
    if io_errors:
        md += [f"**{io_errors} churn transaction(s) failed after connecting**: their bytes are "
               "unknown to the generator, so the byte check above is not exact for them.", ""]
    md += ["### Bytes per link: generator vs agent", "",
           f"Links `{CLIENT_NS}` → `{SERVER_NS}` (kind node), by server port. Expected = "
           f"completed transactions × {MSG} B each way (churn) and completed waves × "
           f"{WAVE_CONNS:,} connections × {WAVE_MSG} B each way (long-lived). A difference is "
           "shown in bold as agent − generator.", "",
           "| traffic | port | expected each way | client sent (role 1) | client received "
           "(role 1) | server received (role 2) | server sent (role 2) |",
           "|---|---|---|---|---|---|---|", *byte_lines, "",
           "### Connections per link", "",
           "Expected = connections that reached ESTABLISHED according to the generator.", "",
           "| traffic | port | expected | opened (role 1) | opened (role 2) | active at end "
           "(role 1) | active at end (role 2) |", "|---|---|---|---|---|---|---|", *conn_lines, ""]
    md += ["## Method", "",
           f"- Two network namespaces created by the script (`{CLIENT_NS}`, `{SERVER_NS}`, "
           f"joined by a veth pair, {SUBNET}.0/24) and removed on exit, failure or Ctrl-C. "
           "In the client namespace `ip_local_port_range=1024 65535` and `tcp_tw_reuse=1` "
           "(the client closes first, so its ports wait in TIME_WAIT).",
           f"- Agent: `{os.path.basename(AGENT)} --poll-interval {POLL} --listen-address "
           f"127.0.0.1 --prometheus-port <free> --max-connections {MAX_CONNECTIONS}` (the "
           "large table keeps other load on this shared host from filling it); everything "
           "else default (ring buffer, MAX_LINKS, socket discovery).",
           f"- Churn: `caretta_netload crr` (connect, {MSG}-byte request, {MSG}-byte echo, "
           f"close, repeated) — {r['clients']} client(s), each against its own single-threaded "
           f"`caretta_netload serve` on its own port, for {DURATION} s. A client stops only "
           "between transactions when its time is up, so its final `transactions=` count is "
           "exact; `errors`/`connect_errors` tell failed transactions apart.",
           "- Client count: " + (", ".join(f"{n} → {v:,.0f}/s" for n, v in r["trials"])
                                 + f" in {CALIBRATE_SECONDS}-s trials before the agent started; "
                                 "the best was used." if r["trials"]
                                 else "fixed by SOAK_CLIENTS."),
           f"- Long-lived waves: every {WAVE_PERIOD} s from t = 15 s, `caretta_netload hold` "
           f"opens {WAVE_CONNS:,} connections (port {HOLD_PORT}), exchanges {WAVE_MSG} B each "
           f"way once on each, holds them {WAVE_HOLD} s and resets them (abortive close).",
           f"- Every {SAMPLE} s: agent VmRSS (`/proc/PID/status`), user+sys CPU "
           "(`/proc/PID/stat` fields 14+15), `caretta_tracked_sockets` and the sum of "
           "`caretta_dropped_total` from `/metrics` (itself a scrape every "
           f"{SAMPLE} s, like a Prometheus server), churn connections/s from the clients' "
           "counter files.",
           "- Byte check: after every generator exited (all connections closed) the script "
           "waits for 3 more completed agent polls (`caretta_polls_total`), scrapes, "
           "then checks that one more poll changes nothing.",
           f"- RSS slope: least-squares fit of RSS (KiB) against time (min) over the samples at "
           f"t ≥ {WARMUP} s (warm-up excluded: SOAK_WARMUP_SECONDS, default a fifth of the run), "
           "± its standard error. Verdict flat when the slope is within 2 standard errors of "
           "zero or below 16 KiB/min (< 23 MiB/day).",
           f"- The agent ran {r['agent_seconds']} s in total (start, soak, final polls).", ""]
    md += ["## Samples", "",
           "Links: every link the agent exports (`caretta_links`, both roles), and among them "
           "the series of other traffic on this shared host (not this benchmark's namespaces).",
           "",
           "| t (s) | RSS (MiB) | of it anonymous (MiB) | agent CPU (% of a core) | tracked "
           "sockets | churn conn/s | long-lived held | links | links of other host traffic | "
           "/metrics (KiB) | drops (all causes) |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in samples:
        md.append(f"| {s['t']:.0f} | {s['rss_kib'] / 1024:.1f} | {s['anon_kib'] / 1024:.1f} | "
                  f"{s['cpu_pct']:.1f} | {s['tracked']:,} | {s['conn_per_s']:,.0f} | "
                  f"{s['held']:,} | {s['links']:,} | {s['other_links']:,} | "
                  f"{s['metrics_kib']:,.0f} | {s['drops']:,} |")
    md += ["", "### Waves", "", "| start (s) | connections | ready after (s) | holder exit |",
           "|---|---|---|---|"]
    for w in r["waves"]:
        md.append(f"| {w['start']} | {w['conns']:,} | {w['ready_after']} | {w['exit']} |")
    md.append("")
    os.makedirs(os.path.dirname(os.path.abspath(OUT)), exist_ok=True)
    with open(OUT, "w") as f:
        f.write("\n".join(md))
    with open(os.path.join(workdir, "report.json"), "w") as f:
        json.dump({k: v for k, v in r.items() if k not in ("final", "after")}, f, indent=1)
    log(f"wrote {OUT}: RSS slope "
        + (f"{slope:+.1f} KiB/min" if slope is not None else "n/a")
        + f", bytes lost {total_lost:,}, {rate:,.0f} connections/s, drops "
        + (", ".join(f"{c}={v}" for c, v in drops) or "none"))
    return 0 if verdict_bytes == "PASS" and exact and stable else 1


if __name__ == "__main__":
    status = 1
    try:
        status = write_report(main())
    except KeyboardInterrupt as e:
        log(f"interrupted ({e}); cleaning up")
        status = 130
    finally:
        # A second Ctrl-C (timeout(1) forwards the one the group already got) must not
        # cut the cleanup short.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        cleanup()
        if status == 0:
            subprocess.run(["rm", "-rf", workdir])
        else:
            log(f"work files (agent log, report.json): {workdir}")
    sys.exit(status)
