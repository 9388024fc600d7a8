#!/usr/bin/env python3
"""Traffic generator for one simulated pod (or node process, or external host).

Runs inside the actor's network namespace (`ip netns exec NS python3 gen.py CFG`).
Listens on the configured ports and answers requests; runs the configured client
tasks; records ground truth — bytes each way and connections — per peer, and writes
it as JSON (atomically) to `truth_path` every second and at exit.

Wire protocol (both sides count every byte they write/read, nothing else):
  request  = 8-byte header (payload length, wanted response length; big-endian u32)
             + payload
  response = exactly the wanted number of bytes
A connection ends cleanly: the client shuts down its write side after its last
request, the server sees EOF and closes, the client reads EOF and closes. So when a
client task is done, both ends' counts are final.

Every loop is bounded: a task stops after `requests` requests or `max_seconds`,
whichever comes first; the whole process exits after `max_seconds` + 30 s at most.
Standard library only.
"""

import json
import os
import random
import signal
import socket
import struct
import sys
import threading
import time

HDR = struct.Struct(">II")
MAX_MSG = 1 << 20
CONNECT_TIMEOUT = 3.0
IO_TIMEOUT = 10.0


class Truth:
    """Thread-safe counters, flushed to a JSON file."""

    def __init__(self, path, actor):
        self.path = path
        self.actor = actor
        self.lock = threading.Lock()
        self.client = {}  # (edge, local, dst, dport) -> dict
        self.server = {}  # (peer, local, lport) -> dict
        self.tasks_done = 0
        self.tasks_total = 0
        self.dirty = True

    def _rec(self, table, key, fields):
        r = table.get(key)
        if r is None:
            r = table[key] = dict(fields)
            r.update(conns=0, sent=0, recv=0, failed=0, open=0)
        return r

    def client_add(self, key, **delta):
        with self.lock:
            r = self._rec(self.client, key, {"edge": key[0], "local": key[1], "dst": key[2],
                                            "dport": key[3]})
            for k, v in delta.items():
                r[k] += v
            self.dirty = True

    def server_add(self, key, **delta):
        with self.lock:
            r = self._rec(self.server, key, {"peer": key[0], "local": key[1], "lport": key[2]})
            for k, v in delta.items():
                r[k] += v
            self.dirty = True

    def flush(self, final=False):
        with self.lock:
            # Written every second even when unchanged: the file's time tells readers
            # that every count up to that moment is in it.
            doc = {"actor": self.actor, "final": final, "time": time.time(),
                   "tasks_total": self.tasks_total, "tasks_done": self.tasks_done,
                   "client": list(self.client.values()), "server": list(self.server.values())}
            self.dirty = False
        tmp = f"{self.path}.tmp.{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump(doc, f)
        os.replace(tmp, self.path)


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(65536, n - len(buf)))
        if not chunk:
            raise ConnectionError("peer closed early")
        buf += chunk
    return bytes(buf)


def sendall(sock, data):
    sock.sendall(data)
    return len(data)


# ----------------------------------------------------------------------- server side

def serve_conn(conn, peer, local, lport, truth):
    key = (peer, local, lport)
    truth.server_add(key, conns=1, open=1)
    try:
        conn.settimeout(IO_TIMEOUT)
        while True:
            first = conn.recv(HDR.size)
            if not first:
                break  # clean EOF
            hdr = first if len(first) == HDR.size else first + recv_exact(conn, HDR.size - len(first))
            plen, rlen = HDR.unpack(hdr)
            if plen > MAX_MSG or rlen > MAX_MSG:
                break
            payload = recv_exact(conn, plen) if plen else b""
            truth.server_add(key, recv=len(hdr) + len(payload))
            if rlen:
                sendall(conn, b"r" * rlen)
                truth.server_add(key, sent=rlen)
    except (OSError, ConnectionError):
        truth.server_add(key, failed=1)
    finally:
        truth.server_add(key, open=-1)
        conn.close()


def listener(addr, port, truth, stop):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((addr, port))
    s.listen(128)
    s.settimeout(0.5)

    def loop():
        while not stop.is_set():
            try:
                conn, peer = s.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            local = conn.getsockname()
            threading.Thread(target=serve_conn, daemon=True,
                             args=(conn, peer[0], local[0], local[1], truth)).start()
        s.close()

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    return t


# ----------------------------------------------------------------------- client side

class ClientTask:
    def __init__(self, spec, truth, rng, deadline, stop):
        self.spec = spec
        self.truth = truth
        self.rng = rng
        self.deadline = deadline
        self.stop = stop
        self.conns = {}  # target index -> (socket, key)

    def size(self, rng_pair):
        lo, hi = rng_pair
        return self.rng.randint(int(lo), int(hi))

    def connect(self, ip, port):
        fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.settimeout(CONNECT_TIMEOUT)
        try:
            s.connect((ip, port))
        except OSError:
            s.close()
            raise
        s.settimeout(IO_TIMEOUT)
        return s, s.getsockname()[0]

    def close_clean(self, s, key):
        try:
            s.shutdown(socket.SHUT_WR)
            while True:  # drain to EOF so the server has closed too
                chunk = s.recv(65536)
                if not chunk:
                    break
                self.truth.client_add(key, recv=len(chunk))
        except OSError:
            self.truth.client_add(key, failed=1)
        finally:
            s.close()
            self.truth.client_add(key, open=-1)

    def request(self, i):
        spec = self.spec
        targets = spec["targets"]
        ti = i % len(targets)
        ip, port = targets[ti]
        held = self.conns.get(ti)
        if held is None:
            try:
                s, local = self.connect(ip, port)
            except OSError:
                self.truth.client_add((spec["edge"], "", ip, port), failed=1)
                return
            key = (spec["edge"], local, ip, port)
            self.truth.client_add(key, conns=1, open=1)
            held = (s, key)
            if spec.get("reuse"):
                self.conns[ti] = held
        s, key = held
        plen = self.size(spec["request_bytes"])
        rlen = self.size(spec["response_bytes"])
        body = HDR.pack(plen, rlen) + b"q" * plen
        try:
            sendall(s, body)
            self.truth.client_add(key, sent=len(body))
            recv_exact(s, rlen)
            self.truth.client_add(key, recv=rlen)
        except (OSError, ConnectionError):
            self.truth.client_add(key, failed=1)
            self.conns.pop(ti, None)
            s.close()
            self.truth.client_add(key, open=-1)
            return
        if not spec.get("reuse"):
            self.close_clean(s, key)

    def run(self):
        spec = self.spec
        n = int(spec["requests"])
        rate = float(spec.get("rate") or 10)
        period = 1.0 / rate if rate > 0 else 0
        # Spread clients so they do not all start in the same millisecond.
        time.sleep(self.rng.uniform(0, min(period, 0.5)))
        nxt = time.monotonic()
        for i in range(n):
            if self.stop.is_set() or time.monotonic() >= self.deadline:
                break
            self.request(i)
            nxt += period
            delay = nxt - time.monotonic()
            if delay > 0 and self.stop.wait(min(delay, 5.0)):
                break
        for s, key in list(self.conns.values()):
            self.close_clean(s, key)
        self.conns.clear()


def main():
    cfg_path = sys.argv[1]
    with open(cfg_path) as f:
        cfg = json.load(f)
    truth = Truth(cfg["truth_path"], cfg["actor"])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    max_seconds = float(cfg.get("max_seconds", 600))
    hard_deadline = time.monotonic() + max_seconds + 30

    for addr, port in cfg.get("listen", []):
        listener(addr, int(port), truth, stop)
    if cfg.get("ready_path"):
        with open(cfg["ready_path"], "w") as f:
            f.write("ready\n")

    # Clients wait for the go file: every server in the cluster is listening by then.
    go = cfg.get("go_path")
    clients = cfg.get("clients", [])
    threads = []
    if clients:
        while go and not os.path.exists(go):
            if stop.wait(0.05) or time.monotonic() > hard_deadline:
                break
        deadline = time.monotonic() + max_seconds
        truth.tasks_total = len(clients)
        rng = random.Random(cfg.get("seed", 0))
        for spec in clients:
            task = ClientTask(spec, truth, random.Random(rng.random()), deadline, stop)

            def run(task=task):
                try:
                    task.run()
                finally:
                    with truth.lock:
                        truth.tasks_done += 1
                        truth.dirty = True
            t = threading.Thread(target=run, daemon=True)
            t.start()
            threads.append(t)

    exit_when_done = cfg.get("exit_when_done", False) and not cfg.get("listen")
    while not stop.is_set() and time.monotonic() < hard_deadline:
        stop.wait(1.0)
        truth.flush()
        if exit_when_done and threads and all(not t.is_alive() for t in threads):
            break
    stop.set()
    for t in threads:
        t.join(timeout=5)
    # Let server threads finish connections whose peer is closing right now.
    end = time.monotonic() + 2
    while time.monotonic() < end:
        with truth.lock:
            busy = any(r["open"] > 0 for r in truth.server.values())
        if not busy:
            break
        time.sleep(0.05)
    truth.flush(final=True)


if __name__ == "__main__":
    main()
