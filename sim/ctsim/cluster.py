"""Bring a simulated cluster up and down: network namespaces, routing, kube-proxy-like
nftables DNAT, the outside world with its DNS server, the fake kube-apiserver, and the
traffic-generator processes. Needs root, iproute2, nftables, util-linux (nsenter,
unshare). Every resource is named with the prefix `ctsim-<instance>-` or lives under
`/run/ctsim/<instance>/`, so `down` can remove leftovers of a crashed run.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zlib

from . import model as M

RUN_ROOT = "/run/ctsim"
GEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen.py")
DNS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dns.py")


class SimError(RuntimeError):
    pass


def log(msg, quiet=False):
    if not quiet:
        print(f"sim: {msg}", file=sys.stderr, flush=True)


def run(cmd, input=None, check=True):
    p = subprocess.run(cmd, input=input, text=True, capture_output=True)
    if check and p.returncode != 0:
        raise SimError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.strip()}"
                       + (f"\n--- input ---\n{input}" if input else ""))
    return p


def netns_inode(path):
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def python():
    return sys.executable or shutil.which("python3")


def rundir_of(instance):
    return os.path.join(RUN_ROOT, instance)


# ------------------------------------------------------------------------ teardown

def _pids_in_netns(inodes):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            if os.stat(f"/proc/{d}/ns/net").st_ino in inodes:
                out.append(int(d))
        except OSError:
            pass
    return out


def _pids_with_cmdline(fragment):
    out = []
    me = os.getpid()
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if fragment in cmd:
            out.append(int(d))
    return out


def _kill(pids, grace=3.0):
    pids = [p for p in set(pids) if p != os.getpid()]
    for p in pids:
        try:
            os.kill(p, signal.SIGTERM)
        except OSError:
            pass
    end = time.monotonic() + grace
    while time.monotonic() < end:
        alive = [p for p in pids if os.path.exists(f"/proc/{p}") and not _zombie(p)]
        if not alive:
            return
        time.sleep(0.05)
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass


def _zombie(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def _recorded_pids(rd):
    """pids from rundir/pids/*.json whose cmdline still matches what was recorded."""
    out = []
    pdir = os.path.join(rd, "pids")
    if not os.path.isdir(pdir):
        return out
    for fn in os.listdir(pdir):
        try:
            with open(os.path.join(pdir, fn)) as f:
                rec = json.load(f)
            with open(f"/proc/{rec['pid']}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except (OSError, ValueError, KeyError):
            continue
        if rec.get("match", "") in cmd:
            out.append(int(rec["pid"]))
    return out


def down(instance=None, quiet=False):
    """Remove one instance (or every instance when None), including leftovers of a
    crashed run. Safe to call repeatedly."""
    prefix = M.PREFIX + (f"{instance}-" if instance else "")
    named = []
    if os.path.isdir("/var/run/netns"):
        named = sorted(n for n in os.listdir("/var/run/netns") if n.startswith(prefix))
    rundirs = []
    if os.path.isdir(RUN_ROOT):
        rundirs = [os.path.join(RUN_ROOT, d) for d in os.listdir(RUN_ROOT)
                   if instance is None or d == instance]
    files = []
    for rd in rundirs:
        nsd = os.path.join(rd, "ns")
        if os.path.isdir(nsd):
            files += [os.path.join(nsd, f) for f in os.listdir(nsd)]
    inodes = {netns_inode(f"/var/run/netns/{n}") for n in named}
    inodes |= {netns_inode(f) for f in files}
    inodes.discard(None)
    inodes.discard(netns_inode("/proc/1/ns/net"))  # never the host namespace
    pids = _pids_in_netns(inodes)
    for rd in rundirs:
        pids += _recorded_pids(rd)
        pids += _pids_with_cmdline(rd.rstrip("/") + "/")
    if pids:
        log(f"stopping {len(set(pids))} process(es)", quiet)
        _kill(pids)
    for n in named:
        run(["ip", "netns", "del", n], check=False)
    for f in files:
        run(["umount", f], check=False)
        try:
            os.unlink(f)
        except OSError:
            pass
    for rd in rundirs:
        shutil.rmtree(rd, ignore_errors=True)
    if named or files or rundirs:
        log(f"removed {len(named) + len(files)} namespace(s), {len(rundirs)} run dir(s)", quiet)
    return len(named) + len(files) + len(rundirs)


def instances():
    out = set()
    if os.path.isdir(RUN_ROOT):
        out |= set(os.listdir(RUN_ROOT))
    if os.path.isdir("/var/run/netns"):
        for n in os.listdir("/var/run/netns"):
            if n.startswith(M.PREFIX):
                out.add(n[len(M.PREFIX):].split("-")[0])
    return sorted(out)


# -------------------------------------------------------------------------- bring-up

class Cluster:
    """One running (or being built) simulated cluster."""

    def __init__(self, model, quiet=False):
        self.m = model
        self.quiet = quiet
        self.rd = rundir_of(model.instance)
        self.outside_ns = os.path.join(self.rd, "ns", "outside")

    # ---- helpers
    def _ipb(self, ns, lines):
        """Run `ip -batch` inside a named netns."""
        if lines:
            run(["ip", "-n", ns, "-batch", "-"], input="\n".join(lines) + "\n")

    def _in_outside(self, cmd, input=None):
        return run(["nsenter", f"--net={self.outside_ns}"] + cmd, input=input)

    def _sysctl(self, ns_cmd, kv):
        run(ns_cmd + ["sysctl", "-qw"] + [f"{k}={v}" for k, v in kv.items()])

    def _spawn(self, name, ns_cmd, argv, match):
        logp = os.path.join(self.rd, "logs", f"{name}.log")
        with open(logp, "ab") as lf:
            p = subprocess.Popen(ns_cmd + argv, stdout=lf, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True,
                                 cwd=M.REPO_ROOT)
        with open(os.path.join(self.rd, "pids", f"{name}.json"), "w") as f:
            json.dump({"pid": p.pid, "match": match, "name": name}, f)
        return p

    def ns_cmd(self, netns):
        if netns is None:
            return ["nsenter", f"--net={self.outside_ns}"]
        return ["ip", "netns", "exec", netns]

    # ---- up
    def up(self, apiserver=True, max_seconds=3600):
        if os.path.exists(self.rd) or any(i == self.m.instance for i in instances()):
            raise SimError(f"instance '{self.m.instance}' exists; run `sim down "
                           f"--instance {self.m.instance}` first")
        for d in ("ns", "logs", "pids", "cfg", "truth", "runs"):
            os.makedirs(os.path.join(self.rd, d), exist_ok=True)
        t0 = time.monotonic()
        with open(os.path.join(self.rd, "cfg", "topology.json"), "w") as f:
            json.dump(self.m.topo, f)
        self._write_state("creating")
        try:
            self._network()
            log(f"network: {len(self.m.nodes)} nodes, "
                f"{sum(1 for p in self.m.pods if not p['hostNetwork'])} pod namespaces, "
                f"{len(self.m.services)} services ({time.monotonic() - t0:.1f}s)", self.quiet)
            self._nft()
            self._dns(max_seconds)
            if apiserver:
                self._apiserver()
            self._servers(max_seconds)
        except BaseException:
            log("bring-up failed, cleaning up", self.quiet)
            down(self.m.instance, quiet=True)
            raise
        self._write_state("up")
        log(f"up in {time.monotonic() - t0:.1f}s (instance {self.m.instance}, "
            f"state {self.rd})", self.quiet)
        return self

    def _write_state(self, phase, **extra):
        st = self.state() if os.path.exists(os.path.join(self.rd, "state.json")) else {}
        st.update({"phase": phase, "instance": self.m.instance, "rundir": self.rd,
                   "topology": self.m.topo.get("name"), "conntrack_netns":
                   {n["name"]: n["netns"] for n in self.m.nodes},
                   "outside_netns": self.outside_ns, "summary": self.m.summary()})
        st.update(extra)
        tmp = os.path.join(self.rd, "state.json.tmp")
        with open(tmp, "w") as f:
            json.dump(st, f, indent=1)
        os.replace(tmp, os.path.join(self.rd, "state.json"))

    def state(self):
        with open(os.path.join(self.rd, "state.json")) as f:
            return json.load(f)

    def _network(self):
        m = self.m
        common_sysctl = {"net.ipv6.conf.all.accept_dad": 0,
                         "net.ipv6.conf.default.accept_dad": 0}
        # The LAN: one bridge, in its own namespace (no addresses there).
        run(["ip", "netns", "add", m.lan_netns])
        self._sysctl(self.ns_cmd(m.lan_netns), common_sysctl)
        self._ipb(m.lan_netns, ["link set lo up", "link add br0 type bridge",
                                "link set br0 up"])
        # Nodes: routers with kube-proxy rules.
        for nd in m.nodes:
            run(["ip", "netns", "add", nd["netns"]])
            self._sysctl(self.ns_cmd(nd["netns"]), dict(common_sysctl, **{
                "net.ipv4.ip_forward": 1, "net.ipv6.conf.all.forwarding": 1,
                "net.ipv4.conf.all.rp_filter": 0, "net.ipv4.conf.default.rp_filter": 0}))
            self._ipb(m.lan_netns, [
                f"link add n{nd['index']} type veth peer name eth0 netns {nd['netns']}",
                f"link set n{nd['index']} master br0 up"])
        # The outside world: an unnamed namespace (not under /var/run/netns, so tools
        # listing the host's namespaces do not mistake it for part of this host).
        open(self.outside_ns, "w").close()
        run(["unshare", f"--net={self.outside_ns}", "true"])
        self._sysctl(self.ns_cmd(None), common_sysctl)
        self._in_outside(["ip", "link", "add", "eth0", "type", "veth", "peer", "name", "ext",
                          "netns", m.lan_netns])
        self._ipb(m.lan_netns, ["link set ext master br0 up"])
        ext_lines = ["link set lo up", "link set eth0 up",
                     f"addr add {M.EXT_LAN4}/24 dev eth0",
                     f"addr add {M.EXT_LAN6}/64 dev eth0 nodad",
                     f"addr add {M.DNS_IP}/32 dev lo"]
        for e in m.externals.values():
            ext_lines.append(f"addr add {e['ip']}/32 dev lo")
        for nd in m.nodes:
            ext_lines += [f"route add {nd['pod_cidr4']} via {nd['ip4']}",
                          f"route add {nd['pod_cidr6']} via {nd['ip6']}"]
        self._in_outside(["ip", "-batch", "-"], input="\n".join(ext_lines) + "\n")
        # Pods: one namespace each, a veth into their node, routed (no bridge).
        node_lines = {nd["name"]: [] for nd in m.nodes}
        for k, pod in enumerate(p for p in m.pods if not p["hostNetwork"]):
            nd = m.node_by_name[pod["node"]]
            run(["ip", "netns", "add", pod["netns"]])
            self._sysctl(self.ns_cmd(pod["netns"]), common_sysctl)
            v = f"v{k}"
            self._ipb(nd["netns"], [f"link add {v} type veth peer name eth0 netns {pod['netns']}"])
            node_lines[nd["name"]] += [
                f"link set {v} up", f"addr add 169.254.1.1/32 dev {v}",
                f"addr add fe80::1/64 dev {v} nodad",
                f"route add {pod['ip4']}/32 dev {v} src {nd['ip4']}",
                f"route add {pod['ip6']}/128 dev {v} src {nd['ip6']}"]
            self._ipb(pod["netns"], [
                "link set lo up", f"addr add {pod['ip4']}/32 dev eth0",
                f"addr add {pod['ip6']}/128 dev eth0 nodad", "link set eth0 up",
                "route add 169.254.1.1/32 dev eth0 scope link",
                "route add default via 169.254.1.1 dev eth0",
                "route add default via fe80::1 dev eth0"])
        for nd in m.nodes:
            lines = ["link set lo up", "link set eth0 up",
                     f"addr add {nd['ip4']}/24 dev eth0",
                     f"addr add {nd['ip6']}/64 dev eth0 nodad",
                     f"route add {M.EXT_NET4} via {M.EXT_LAN4}"]
            for other in m.nodes:
                if other is not nd:
                    lines += [f"route add {other['pod_cidr4']} via {other['ip4']}",
                              f"route add {other['pod_cidr6']} via {other['ip6']}"]
            self._ipb(nd["netns"], lines + node_lines[nd["name"]])

    def nft_ruleset(self):
        """kube-proxy (nftables mode) shaped rules: one chain per endpoint, a random
        vmap per Service port, hooked in prerouting (pods) and output (host)."""
        m = self.m
        chains, svc_rules = [], []
        n = 0
        for svc in m.services.values():
            if svc["headless"]:
                continue
            pods = m.workloads[svc["workload"]]["pods"]
            for port, target in svc["ports"]:
                for fam, attr, match in (("ip", "ip4", "ip daddr"), ("ip6", "ip6", "ip6 daddr")):
                    cip = svc[attr]
                    if not cip:
                        continue
                    names = []
                    for pod in pods:
                        n += 1
                        name = f"ep{n}"
                        addr = pod[attr] if fam == "ip" else f"[{pod[attr]}]"
                        chains.append(f"  chain {name} {{\n    # {svc['key']}:{port} -> "
                                      f"{pod['name']}\n    meta l4proto tcp dnat {fam} to "
                                      f"{addr}:{target}\n  }}")
                        names.append(name)
                    vm = ", ".join(f"{i} : jump {c}" for i, c in enumerate(names))
                    svc_rules.append(f"    {match} {cip} tcp dport {port} numgen random mod "
                                     f"{len(names)} vmap {{ {vm} }}")
        body = "\n".join(chains)
        return ("table inet ctsim_kube_proxy {\n" + body + "\n  chain services {\n"
                + "\n".join(svc_rules) + "\n  }\n"
                "  chain prerouting {\n    type nat hook prerouting priority dstnat; "
                "policy accept;\n    jump services\n  }\n"
                "  chain output {\n    type nat hook output priority -100; policy accept;\n"
                "    jump services\n  }\n}\n")

    def _nft(self):
        rules = self.nft_ruleset()
        with open(os.path.join(self.rd, "cfg", "kube-proxy.nft"), "w") as f:
            f.write(rules)
        for nd in self.m.nodes:
            run(["ip", "netns", "exec", nd["netns"], "nft", "-f", "-"], input=rules)

    def _dns(self, max_seconds):
        records = {e["ip"]: e["name"] for e in self.m.externals.values()}
        for i, (ns, listen) in enumerate(((None, [[M.DNS_IP, 53]]),
                                          ("host", [["127.0.0.1", 0]]))):
            cfgp = os.path.join(self.rd, "cfg", f"dns-{i}.json")
            portf = os.path.join(self.rd, f"dns-{i}.port")
            with open(cfgp, "w") as f:
                json.dump({"listen": listen, "records": records, "port_file": portf,
                           "max_seconds": max_seconds + 60}, f)
            self._spawn(f"dns-{i}", [] if ns == "host" else self.ns_cmd(None),
                        [python(), DNS, cfgp], cfgp)
        portf = os.path.join(self.rd, "dns-1.port")
        self._wait(lambda: os.path.exists(portf), 10, "DNS server")
        with open(portf) as f:
            port = json.load(f)[0][1]
        self._write_state("creating", dns={"outside": f"{M.DNS_IP}:53",
                                           "loopback": f"127.0.0.1:{port}",
                                           "records": records})

    def _apiserver(self):
        sd = os.path.join(self.rd, "apiserver")
        os.makedirs(sd, exist_ok=True)
        objp = os.path.join(self.rd, "cfg", "k8s-objects.json")
        with open(objp, "w") as f:
            json.dump(self.m.k8s_objects(), f)
        ready = os.path.join(sd, "ready.json")
        self._spawn("apiserver", [], [python(), "-m", "sim.fake_apiserver", "--state-dir", sd,
                                      "--objects", objp, "--ready-file", ready,
                                      "--bookmark-interval", "10"], sd)
        self._wait(lambda: os.path.exists(ready), 30, "fake kube-apiserver")
        with open(ready) as f:
            info = json.load(f)
        self._write_state("creating", apiserver=info)
        log(f"fake kube-apiserver {info['url']} (kubeconfig {info['kubeconfig']})", self.quiet)

    def _wait(self, cond, timeout, what):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if cond():
                return
            time.sleep(0.05)
        raise SimError(f"timed out waiting for {what}")

    def _servers(self, max_seconds):
        started = []
        for aid, a in self.m.actors.items():
            if not a["listen"]:
                continue
            safe = aid.replace("/", "_")
            cfgp = os.path.join(self.rd, "cfg", f"srv-{safe}.json")
            ready = os.path.join(self.rd, "cfg", f"srv-{safe}.ready")
            with open(cfgp, "w") as f:
                json.dump({"actor": aid, "listen": a["listen"], "clients": [],
                           "truth_path": os.path.join(self.rd, "truth", f"srv-{safe}.json"),
                           "ready_path": ready, "max_seconds": max_seconds}, f)
            self._spawn(f"srv-{safe}", self.ns_cmd(a["netns"]), [python(), GEN, cfgp], cfgp)
            started.append(ready)
        self._wait(lambda: all(os.path.exists(r) for r in started), 30, "servers to listen")
        log(f"{len(started)} servers listening", self.quiet)

    # ---- traffic
    def traffic(self, scale=1.0, continuous=False, max_seconds=600, rate_scale=1.0,
                wait=True, timeout=None):
        """Run one round of client traffic. Bounded: each task stops after its request
        count (× scale; in continuous mode rate × max_seconds) or max_seconds."""
        runs = sorted(os.listdir(os.path.join(self.rd, "runs")))
        run_id = f"run-{len(runs) + 1:03d}"
        rdir = os.path.join(self.rd, "runs", run_id)
        os.makedirs(rdir)
        go = os.path.join(rdir, "go")
        procs = []
        for aid, a in self.m.actors.items():
            if not a["clients"]:
                continue
            clients = []
            for c in a["clients"]:
                c = dict(c)
                c["rate"] = c["rate"] * rate_scale
                if continuous:
                    c["requests"] = int(max(1, c["rate"]) * max_seconds)
                else:
                    c["requests"] = max(1, int(round(c["requests"] * scale)))
                clients.append(c)
            safe = aid.replace("/", "_")
            cfgp = os.path.join(rdir, f"cli-{safe}.cfg.json")
            with open(cfgp, "w") as f:
                json.dump({"actor": aid, "clients": clients, "go_path": go,
                           "truth_path": os.path.join(rdir, f"cli-{safe}.json"),
                           "seed": zlib.crc32(f"{self.m.seed}/{aid}/{run_id}".encode()),
                           "max_seconds": max_seconds, "exit_when_done": True}, f)
            procs.append(self._spawn(f"{run_id}-{safe}", self.ns_cmd(a["netns"]),
                                     [python(), GEN, cfgp], cfgp))
        start = time.time()
        open(go, "w").close()
        log(f"{run_id}: {len(procs)} client processes started"
            f"{' (continuous)' if continuous else ''}", self.quiet)
        if not wait:
            return run_id, procs
        self.wait_traffic(run_id, procs, timeout or max_seconds + 40, start)
        return run_id, procs

    def wait_traffic(self, run_id, procs, timeout, start=None):
        end = time.monotonic() + timeout
        for p in procs:
            left = max(0.1, end - time.monotonic())
            try:
                p.wait(timeout=left)
            except subprocess.TimeoutExpired:
                p.terminate()
                raise SimError(f"{run_id}: client process {p.pid} did not finish")
        done_at = time.time()
        # Servers flush their counts once a second; wait until every server's snapshot
        # is newer than the end of the run and has no connection left open.
        tdir = os.path.join(self.rd, "truth")

        def settled():
            for fn in os.listdir(tdir):
                if not fn.endswith(".json"):
                    continue
                try:
                    with open(os.path.join(tdir, fn)) as f:
                        d = json.load(f)
                except (OSError, ValueError):
                    return False
                if d["time"] < done_at or any(r["open"] > 0 for r in d["server"]):
                    return False
            return True
        self._wait(settled, 15, "server truth to settle")
        log(f"{run_id}: done", self.quiet)

    def stop_clients(self):
        pids = []
        for fn in os.listdir(os.path.join(self.rd, "pids")):
            if fn.startswith("run-"):
                pids += _recorded_pids_file(os.path.join(self.rd, "pids", fn))
        _kill(pids)


def _recorded_pids_file(path):
    try:
        with open(path) as f:
            rec = json.load(f)
        with open(f"/proc/{rec['pid']}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except (OSError, ValueError, KeyError):
        return []
    return [int(rec["pid"])] if rec.get("match", "") in cmd else []


def attach(instance):
    """A Cluster object for an instance that is already up."""
    rd = rundir_of(instance)
    with open(os.path.join(rd, "cfg", "topology.json")) as f:
        topo = json.load(f)
    return Cluster(M.Model(topo, instance))
