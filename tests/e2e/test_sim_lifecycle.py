#!/usr/bin/env python3
"""e2e: the simulator itself. `sim up` builds what it promises (pods reachable over
IPv4 and IPv6, ClusterIP DNAT with the NAT entry in the client node's conntrack table,
the outside world's PTR answers, the fake apiserver's objects), and `sim down` removes
everything — also after the process that ran `sim up` was SIGKILLed mid-way.
Exit 77 when not root or a tool is missing."""

import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2elib as E  # noqa: E402
from sim.ctsim import cluster as C  # noqa: E402
from sim.ctsim import model as M  # noqa: E402

INST = "e2es"


def leftovers(inst):
    ns = [n for n in os.listdir("/var/run/netns")] if os.path.isdir("/var/run/netns") else []
    ns = [n for n in ns if n.startswith(f"{M.PREFIX}{inst}-")]
    procs = C._pids_with_cmdline(f"/run/ctsim/{inst}/")
    return ns, procs, os.path.exists(f"/run/ctsim/{inst}")


def main():
    if os.geteuid() != 0:
        E.skip("needs root")
    for t in ("ip", "nft", "nsenter", "unshare", "conntrack"):
        if not shutil.which(t):
            E.skip(f"{t} not installed")
    if C.instances():
        E.skip(f"another simulated cluster is up ({C.instances()})")
    ck = E.Checks()
    sim = [sys.executable, "-m", "sim.ctsim", "-i", INST]
    try:
        # 1. A bring-up killed half-way leaves things behind; `down` removes them all.
        p = subprocess.Popen(sim + ["up", "--max-seconds", "60"], cwd=E.REPO,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.monotonic() + 20
        while time.monotonic() < end and len(leftovers(INST)[0]) < 5:
            time.sleep(0.01)
        p.send_signal(signal.SIGKILL)
        p.wait()
        before = leftovers(INST)
        subprocess.run(sim + ["down"], cwd=E.REPO, check=True, capture_output=True)
        after = leftovers(INST)
        ck.check(f"down after a SIGKILLed up (had {len(before[0])} netns, "
                 f"{len(before[1])} processes)",
                 [f"left: {after}"] if (after[0] or after[1] or after[2]) else [])

        # 2. A full bring-up.
        t0 = time.monotonic()
        r = subprocess.run(sim + ["up", "--max-seconds", "60"], cwd=E.REPO,
                           capture_output=True, text=True)
        ck.check(f"sim up ({time.monotonic() - t0:.1f}s)",
                 [r.stderr[-2000:]] if r.returncode else [])
        if r.returncode:
            ck.exit()
        cl = C.attach(INST)
        m = cl.m
        loadgen = m.workloads["shop/loadgen"]["pods"][0]
        redis = m.workloads["data/redis"]["pods"][0]
        ex = ["ip", "netns", "exec", loadgen["netns"]]
        probs = []
        for ip in (redis["ip4"], redis["ip6"], m.nodes[1]["ip4"]):
            port = 6379 if ip.startswith(("10.244", "fd00:10:244")) else 9100
            code = (f"import socket;s=socket.create_connection(('{ip}',{port}),3);"
                    f"s.sendall(b'\\0\\0\\0\\0\\0\\0\\0\\5');print(len(s.recv(5)));s.close()")
            out = subprocess.run(ex + [sys.executable, "-c", code], capture_output=True,
                                 text=True, timeout=10)
            if out.stdout.strip() != "5":
                probs.append(f"{ip}:{port} from loadgen: {out.stderr.strip()[-300:]}")
        ck.check("pod → pod (IPv4, IPv6, cross-node) and pod → hostNetwork", probs)

        # ClusterIP: DNAT in the client's node; conntrack there has both tuples.
        svc = m.services["shop/frontend"]
        code = (f"import socket;s=socket.create_connection(('{svc['ip4']}',80),3);"
                f"print(s.getsockname()[1]);s.sendall(b'\\0\\0\\0\\0\\0\\0\\0\\3');"
                f"s.recv(3);import time;time.sleep(0.2);s.close()")
        out = subprocess.run(ex + [sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=10)
        sport = out.stdout.strip()
        node_ns = m.node_by_name[loadgen["node"]]["netns"]
        ct = subprocess.run(["ip", "netns", "exec", node_ns, "conntrack", "-L", "-p", "tcp",
                             "--orig-dst", svc["ip4"], "--orig-port-src", sport or "0"],
                            capture_output=True, text=True)
        backends = {p["ip4"] for p in m.workloads["shop/frontend"]["pods"]}
        hit = [ln for ln in ct.stdout.splitlines()
               if any(f"src={b} " in ln for b in backends) and "dport=80 " in ln]
        ck.check(f"ClusterIP {svc['ip4']}:80 DNATed; conntrack in netns {node_ns} holds "
                 f"the reply tuple from a backend",
                 [] if hit else [f"conntrack: {ct.stdout.strip()} {ct.stderr.strip()}",
                                 f"client: {out.stderr.strip()[-300:]}"])

        # The outside world's DNS (PTR) answers, in its namespace and on loopback.
        port = int(cl.state()["dns"]["loopback"].rsplit(":", 1)[1])
        q = (struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) +
             b"".join(bytes([len(x)]) + x.encode() for x in
                      "10.100.51.198.in-addr.arpa".split(".")) + b"\0" + struct.pack(">HH", 12, 1))
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(3)
        s.sendto(q, ("127.0.0.1", port))
        resp = s.recv(512)
        s.close()
        ck.check("PTR 198.51.100.10 → api.payments.example",
                 b"\x03api\x08payments\x07example\x00" in resp)

        # The fake apiserver serves the topology's objects.
        info = cl.state()["apiserver"]
        sys.path.insert(0, E.REPO)
        import ssl
        import urllib.request
        ctx = ssl.create_default_context(cafile=info["ca_file"])
        req = urllib.request.Request(info["url"] + "/api/v1/pods",
                                     headers={"Authorization": f"Bearer {info['token']}"})
        with urllib.request.urlopen(req, context=ctx, timeout=5) as r:
            pods = json.load(r)["items"]
        owners = {p["metadata"]["name"]: [o["kind"] for o in p["metadata"].get(
            "ownerReferences", [])] for p in pods}
        probs = []
        if len(pods) != len(m.pods):
            probs.append(f"{len(pods)} pods served, topology has {len(m.pods)}")
        for pod in m.pods:
            po = next((p for p in pods if p["metadata"]["name"] == pod["name"]), None)
            if not po:
                probs.append(f"pod {pod['name']} missing")
                continue
            ips = [x["ip"] for x in po["status"]["podIPs"]]
            if ips != [pod["ip4"], pod["ip6"]]:
                probs.append(f"{pod['name']} podIPs {ips}")
        if owners.get("loadgen") != [] or "ReplicaSet" not in owners.get(
                m.workloads["shop/frontend"]["pods"][0]["name"], []):
            probs.append(f"ownerReferences wrong: {owners}")
        ck.check("fake apiserver serves pods (dual-stack IPs, ownerReferences)", probs)
    finally:
        subprocess.run(sim + ["down"], cwd=E.REPO, capture_output=True)
    after = leftovers(INST)
    ck.check("nothing left after sim down", [] if not any(after) else [f"left: {after}"])
    ck.exit()


if __name__ == "__main__":
    main()
