"""Test harness: start a fake apiserver subprocess, talk to its API and control API.

    from sim.fake_apiserver.testing import FakeApiServer
    with FakeApiServer(extra_args=["--bookmark-interval", "1"]) as srv:
        srv.add([...objects...])
        status, body = srv.get_json("/api/v1/pods")
        with srv.watch("/api/v1/pods?watch=1&resourceVersion=" + rv) as w:
            ev = w.next_event(timeout=5)

Only the standard library is used. Every wait is bounded.
"""

import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from urllib.parse import urlsplit

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class FakeApiServer:
    def __init__(self, extra_args=(), objects=None, state_dir=None, start_timeout=20,
                 log_level="info"):
        self.extra_args = list(extra_args)
        self.objects = objects
        self._own_dir = state_dir is None
        self.state_dir = state_dir or tempfile.mkdtemp(prefix="fake-apiserver-test-")
        self.start_timeout = start_timeout
        self.log_level = log_level
        self.proc = None
        self.info = None

    # ------------------------------------------------------------- lifecycle

    def start(self):
        ready = os.path.join(self.state_dir, "ready.json")
        args = [sys.executable, "-m", "sim.fake_apiserver", "--state-dir", self.state_dir,
                "--ready-file", ready, "--log-level", self.log_level]
        if self.objects is not None:
            p = os.path.join(self.state_dir, "objects.json")
            with open(p, "w") as f:
                json.dump(self.objects, f)
            args += ["--objects", p]
        args += self.extra_args
        self.log_path = os.path.join(self.state_dir, "server.log")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                                     stderr=self._log, start_new_session=True)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if os.path.exists(ready):
                with open(ready) as f:
                    self.info = json.load(f)
                break
            if self.proc.poll() is not None:
                raise RuntimeError(f"fake apiserver exited with {self.proc.returncode}: "
                                   f"{self.log_text()}")
            time.sleep(0.02)
        else:
            self.stop()
            raise RuntimeError("fake apiserver did not become ready: " + self.log_text())
        u = urlsplit(self.info["url"])
        self.host, self.port = u.hostname, u.port
        c = urlsplit(self.info["control_url"])
        self.control_host, self.control_port = c.hostname, c.port
        self.kubeconfig = self.info["kubeconfig"]
        self.token = self.info["token"]
        self.ca_file = self.info["ca_file"]
        self.ssl_ctx = ssl.create_default_context(cafile=self.ca_file)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None
        if self._own_dir and os.environ.get("FAKE_APISERVER_KEEP") is None:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-4000:]
        except OSError:
            return ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---------------------------------------------------------------- API

    def conn(self, timeout=10):
        return http.client.HTTPSConnection(self.host, self.port, context=self.ssl_ctx,
                                           timeout=timeout)

    def request(self, path, token=True, headers=None, method="GET", timeout=10):
        """(status, headers dict (lower-case keys), body bytes). token=True uses the
        server's token, a string uses that, None sends no Authorization."""
        h = dict(headers or {})
        if token is True:
            token = self.token
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        c = self.conn(timeout)
        try:
            c.request(method, path, headers=h)
            r = c.getresponse()
            body = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, body
        finally:
            c.close()

    def get_json(self, path, **kw):
        st, _, body = self.request(path, **kw)
        return st, json.loads(body) if body else None

    def watch(self, path, token=True, headers=None, timeout=10):
        return WatchStream(self, path, self.token if token is True else token, headers,
                           timeout)

    # ------------------------------------------------------------- control

    def control(self, method, path, body=None, timeout=30):
        c = http.client.HTTPConnection(self.control_host, self.control_port,
                                       timeout=timeout)
        try:
            data = json.dumps(body).encode() if body is not None else None
            c.request(method, "/_control" + path, body=data,
                      headers={"Content-Type": "application/json"} if data else {})
            r = c.getresponse()
            out = json.loads(r.read() or b"null")
            if r.status >= 400:
                raise RuntimeError(f"control {method} {path}: {r.status} {out}")
            return out
        finally:
            c.close()

    def add(self, objs):
        return self.control("POST", "/objects", objs if isinstance(objs, list) else [objs])

    def delete(self, kind, namespace, name):
        ref = {"kind": kind, "namespace": namespace, "name": name}
        return self.control("POST", "/delete", [ref])

    def fault(self, **spec):
        return self.control("POST", "/faults", spec)

    def stats(self):
        return self.control("GET", "/stats")


class WatchStream:
    """A raw watch connection: parses the chunked body itself so tests can see
    exactly what went over the wire (partial lines, missing final chunk)."""

    def __init__(self, srv, path, token, headers, timeout):
        self.timeout = timeout
        raw = socket.create_connection((srv.host, srv.port), timeout=timeout)
        self.sock = srv.ssl_ctx.wrap_socket(raw, server_hostname=srv.host)
        h = {"Host": f"{srv.host}:{srv.port}", "Accept": "application/json",
             "User-Agent": "fake-apiserver-test"}
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        h.update(headers or {})
        req = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items())
        self.sock.sendall((req + "\r\n").encode())
        self.buf = b""
        self.body = b""          # de-chunked bytes not yet returned as lines
        self.eof = False          # connection closed
        self.clean_end = False    # terminating zero-length chunk received
        head = self._read_until(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {}
        for l in lines[1:]:
            if ":" in l:
                k, v = l.split(":", 1)
                self.headers[k.strip().lower()] = v.strip()
        self.chunked = self.headers.get("transfer-encoding", "").lower() == "chunked"
        if not self.chunked:
            n = int(self.headers.get("content-length", "0"))
            while len(self.buf) < n and self._fill():
                pass
            self.body, self.buf = self.buf[:n], b""
            self.clean_end = True

    def _fill(self, deadline=None):
        if self.eof:
            return False
        if deadline is not None:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            d = self.sock.recv(65536)
        except (ssl.SSLError, ConnectionResetError, OSError) as e:
            if isinstance(e, (socket.timeout, TimeoutError)):
                raise
            d = b""
        if not d:
            self.eof = True
            return False
        self.buf += d
        return True

    def _read_until(self, sep):
        while sep not in self.buf:
            if not self._fill():
                raise EOFError("connection closed")
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def _pump(self, deadline):
        """Move one chunk from buf to body. False when the stream is over."""
        while True:
            if self.clean_end:
                return False
            if b"\r\n" in self.buf:
                size_line, rest = self.buf.split(b"\r\n", 1)
                size = int(size_line.split(b";")[0], 16)
                if size == 0:
                    self.clean_end = True
                    self.buf = rest
                    return False
                if len(rest) >= size + 2:
                    self.body += rest[:size]
                    self.buf = rest[size + 2:]
                    return True
            if not self._fill(deadline):
                # connection dropped mid-chunk: expose what arrived of the chunk
                if b"\r\n" in self.buf:
                    size_line, rest = self.buf.split(b"\r\n", 1)
                    self.body += rest
                    self.buf = b""
                return False

    def next_line(self, timeout=None):
        """Next newline-terminated line (bytes, without newline), or None at end of
        stream. Raises socket.timeout if nothing arrives in time."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while b"\n" not in self.body:
            if not self._pump(deadline):
                if b"\n" in self.body:
                    break
                return None
        line, self.body = self.body.split(b"\n", 1)
        return line

    def next_event(self, timeout=None):
        line = self.next_line(timeout)
        return None if line is None else json.loads(line)

    def events(self, n, timeout=None):
        return [self.next_event(timeout) for _ in range(n)]

    @property
    def leftover(self):
        """Bytes received after the last full line (a truncated event)."""
        return self.body

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
