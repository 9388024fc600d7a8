#!/usr/bin/env python3
"""Hostile clients against the agent's HTTP server (http_test_server), on loopback.

Figures checked: while 1,000 idle and slowloris connections are held open (and
re-opened as the server cuts them), fresh /healthz and /metrics answer in < 1 s;
header bombs (1,000,000 `A: b` lines, streamed) get 431 and the server's RSS stays
within 10 MiB of its idle value; a second server on the port fails with a clear
message; POST gets 405; dot-dot and regex-looking paths get 404.

usage: http_hostile_test.py path/to/http_test_server
"""
import multiprocessing
import os
import resource
import socket
import subprocess
import sys
import threading
import time
import unittest

SERVER = None
HELD = 1000
FRESH_LIMIT_S = 1.0


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def start_server(*args):
    p = subprocess.Popen([SERVER, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline().split()
    if not line or line[0] != "port":
        p.kill()
        raise RuntimeError("server did not start: " + p.stderr.read())
    return p, int(line[1]), int(line[3])


def stop_server(p):
    p.stdin.close()
    try:
        out = p.stdout.read()
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        raise AssertionError("server did not stop within 10 s")
    finally:
        p.stdout.close()
        err = p.stderr.read()
        p.stderr.close()
    if p.returncode != 0:  # e.g. a sanitizer's report
        raise AssertionError(f"server exited with {p.returncode}: {err[-2000:]}")
    return out


def request(port, method, path, timeout=5.0):
    """(status, body, seconds) of one request on a fresh connection."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            data += chunk
    took = time.monotonic() - start
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1]) if head.startswith(b"HTTP/1.") else 0
    return status, body, took


def bomb(port, lines=1_000_000):
    """Streams a head with `lines` header lines; returns the status the server sent."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.setblocking(False)
    answer = b""
    chunk = b"A: b\r\n" * 10000
    try:
        pending = b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + chunk
        sent_lines = 0
        deadline = time.monotonic() + 20
        while sent_lines < lines and time.monotonic() < deadline:
            try:
                answer += s.recv(65536)
                break  # the server answered: stop sending
            except BlockingIOError:
                pass
            except OSError:
                break
            try:
                n = s.send(pending)
                pending = pending[n:]
                if not pending:
                    sent_lines += 10000
                    pending = chunk
            except BlockingIOError:
                time.sleep(0.001)
            except OSError:
                break
        s.setblocking(True)
        s.settimeout(5)
        while True:
            try:
                data = s.recv(65536)
            except OSError:
                break
            if not data:
                break
            answer += data
    finally:
        s.close()
    return int(answer.split(b" ")[1]) if answer.startswith(b"HTTP/1.") else 0


class Attacker:
    """Holds `count` connections open: half idle, half slowloris (a header byte
    per second); re-opens whatever the server cuts, for as long as it runs. Runs
    in its own process so its work does not delay the measured client (GIL)."""

    def __init__(self, port, count):
        self.port, self.count = port, count
        self.ready = multiprocessing.Event()
        self.stop = multiprocessing.Event()
        self.opened = multiprocessing.Value("i", 0)
        self.process = multiprocessing.Process(target=self._main)

    def start(self, timeout=30):
        self.process.start()
        if not self.ready.wait(timeout):
            self.finish()
            raise AssertionError(f"could not open {self.count} connections in {timeout} s")

    def finish(self):
        self.stop.set()
        self.process.join(30)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()

    def _open(self, slow):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        s.setblocking(False)
        if slow:
            s.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        with self.opened.get_lock():
            self.opened.value += 1
        return [s, slow]

    def _main(self):
        socks = [self._open(i % 2 == 1) for i in range(self.count)]
        self.ready.set()
        try:
            while not self.stop.wait(1.0):
                for entry in socks:
                    if self.stop.is_set():
                        break
                    s, slow = entry
                    try:
                        if s.recv(1) == b"":
                            raise ConnectionResetError
                        continue
                    except BlockingIOError:
                        pass
                    except OSError:
                        s.close()
                        entry[:] = self._open(slow)
                        continue
                    if slow:
                        try:
                            s.send(b"X")
                        except OSError:
                            pass
        finally:
            for s, _ in socks:
                s.close()


class HttpHostileTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard < HELD + 200:
            raise unittest.SkipTest(f"RLIMIT_NOFILE hard limit {hard} < {HELD + 200}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    def test_fresh_requests_answer_while_1000_connections_are_held(self):
        p, port, limit = start_server("--metrics-bytes", str(1 << 20))
        self.assertGreaterEqual(limit, HELD + 100, "connection limit too low for the test")
        attacker = Attacker(port, HELD)
        try:
            attacker.start()
            worst = {"/healthz": 0.0, "/metrics": 0.0}
            # 8 s: past the 5 s head deadline, so cut connections are re-opened.
            end = time.monotonic() + 8
            rounds = 0
            while time.monotonic() < end:
                for path in worst:
                    status, body, took = request(port, "GET", path)
                    self.assertEqual(status, 200, path)
                    if path == "/metrics":
                        self.assertGreaterEqual(len(body), 1 << 20)
                    worst[path] = max(worst[path], took)
                rounds += 1
                time.sleep(0.2)
        finally:
            attacker.finish()
            out = stop_server(p)
        opened = attacker.opened.value
        print(f"held {HELD} (opened {opened} in all), {rounds} rounds, "
              f"worst /healthz {worst['/healthz']*1000:.0f} ms, "
              f"/metrics (1 MiB) {worst['/metrics']*1000:.0f} ms", file=sys.stderr)
        for path, took in worst.items():
            self.assertLess(took, FRESH_LIMIT_S, path)
        # The slow and idle ones were cut at the head deadline and re-opened.
        self.assertGreater(opened, HELD)
        self.assertIn("drop head_deadline", out)

    def test_header_bombs_get_431_and_memory_stays(self):
        p, port, _ = start_server()
        try:
            request(port, "GET", "/metrics")
            idle = rss_kib(p.pid)
            statuses = [bomb(port) for _ in range(3)]
            # Many at once, too.
            results = []
            threads = [threading.Thread(target=lambda: results.append(bomb(port, 100_000)))
                       for _ in range(50)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            after = rss_kib(p.pid)
            print(f"bombs: {statuses} + 50 parallel {set(results)}; RSS idle {idle} KiB, "
                  f"after {after} KiB", file=sys.stderr)
            self.assertEqual(statuses, [431] * 3)
            self.assertEqual(set(results), {431})
            self.assertLess(after - idle, 10 * 1024)
            self.assertEqual(request(port, "GET", "/healthz")[0], 200)
        finally:
            out = stop_server(p)
        self.assertIn("drop bad_head 53\n", out)  # counted, one per bomb

    def test_second_server_on_the_port_fails_clearly(self):
        p, port, _ = start_server()
        try:
            second = subprocess.run([SERVER, "--port", str(port)], stdin=subprocess.DEVNULL,
                                    capture_output=True, text=True, timeout=10)
            self.assertEqual(second.returncode, 1)
            self.assertIn(f"port {port} on 127.0.0.1 is already in use (another caretta?)",
                          second.stderr)
            self.assertEqual(request(port, "GET", "/healthz")[0], 200)
        finally:
            stop_server(p)
        bad = subprocess.run([SERVER, "--address", "999.1.1.1"], stdin=subprocess.DEVNULL,
                             capture_output=True, text=True, timeout=10)
        self.assertEqual(bad.returncode, 1)
        self.assertIn("is not an address of this host", bad.stderr)

    def test_methods_and_paths(self):
        p, port, _ = start_server()
        try:
            self.assertEqual(request(port, "POST", "/metrics")[0], 405)
            self.assertEqual(request(port, "HEAD", "/metrics")[0], 200)
            for path in ["/metrics/../x", "/.*", "/m(", "/metrics.*", "/%2e%2e/etc/passwd",
                         "/healthz%00", "/api/graph/../healthz"]:
                self.assertEqual(request(port, "GET", path)[0], 404, path)
            for window in ["abc", "-5", "1e999"]:
                self.assertEqual(request(port, "GET", f"/api/graph?window={window}")[0], 400)
        finally:
            stop_server(p)

    def test_big_scrapes_give_memory_back(self):
        """30 MiB bodies, rendered and sent again and again, four at a time: with
        glibc's mmap threshold fixed (what main() should do), RSS returns near idle.
        Without it (measured): +98 MiB stays in the threads' malloc arenas."""
        # Under a sanitizer (run_ctest.sh sets its options) malloc is the sanitizer's:
        # mallopt is refused and RSS means nothing, so only the answers are checked.
        sanitized = any(v in os.environ for v in ("ASAN_OPTIONS", "TSAN_OPTIONS"))
        args = ["--metrics-bytes", str(30 << 20)]
        if not sanitized:
            args += ["--mmap-threshold", str(1 << 20)]
        p, port, _ = start_server(*args)
        try:
            request(port, "GET", "/healthz")
            idle = rss_kib(p.pid)
            sizes = []

            def scrape():
                status, body, _ = request(port, "GET", "/metrics", timeout=30)
                sizes.append(len(body) if status == 200 else 0)
            for _ in range(3):  # 4 at once: each epoll thread renders one
                threads = [threading.Thread(target=scrape) for _ in range(4)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
            self.assertEqual(len(sizes), 12)
            self.assertGreaterEqual(min(sizes), 30 << 20)
            after = rss_kib(p.pid)
            print(f"3 x 4 concurrent scrapes of 30 MiB: RSS idle {idle} KiB, after {after} KiB",
                  file=sys.stderr)
            if not sanitized:
                self.assertLess(after - idle, 10 * 1024)
        finally:
            stop_server(p)


if __name__ == "__main__":
    if len(sys.argv) < 2 or not os.access(sys.argv[1], os.X_OK):
        print(__doc__)
        sys.exit(2)
    SERVER = sys.argv.pop(1)
    unittest.main(verbosity=2)
