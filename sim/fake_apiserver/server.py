"""The fake kube-apiserver: HTTPS API (discovery, LIST, GET, WATCH) with bearer-token
auth, plus a plain-HTTP loopback control API for tests (objects, faults, stats)."""

import argparse
import base64
import binascii
import json
import logging
import os
import secrets
import select
import signal
import socket
import ssl
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from . import resources as R
from . import tlsutil
from .store import Expired, Faults, SelectorError, Stats, Store, make_filter
from .store import FAULT_TYPES

log = logging.getLogger("fake-apiserver")

PUBLIC_PATHS = {"/healthz", "/livez", "/readyz", "/version"}
VERSION_INFO = {
    "major": "1", "minor": "33", "gitVersion": "v1.33.0-fake",
    "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
    "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.24.0", "compiler": "gc",
    "platform": "linux/amd64",
}
AGG_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGG_V2B1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
WATCH_BATCH = 2000


def status_obj(code, reason, message, details=None):
    s = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
         "message": message, "reason": reason, "code": code}
    if details:
        s["details"] = details
    return s


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"))


# ------------------------------------------------------------------------ tokens

class Tokens:
    """Accepted bearer tokens, read from a file (one per line; `token,user,...` CSV
    lines as in kube-apiserver's --token-auth-file also work) and re-read whenever
    the file changes."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.sig = None
        self.tokens = []
        self._reload()

    def _reload(self):
        try:
            st = os.stat(self.path)
        except OSError:
            sig = None
        else:
            sig = (st.st_mtime_ns, st.st_size, st.st_ino)
        with self.lock:
            if sig == self.sig:
                return
            toks = []
            if sig is not None:
                try:
                    with open(self.path) as f:
                        for line in f:
                            line = line.strip()
                            if line and not line.startswith("#"):
                                toks.append(line.split(",", 1)[0].strip())
                except OSError:
                    return
            self.sig = sig
            self.tokens = toks
            log.info("token file %s loaded: %d token(s)", self.path, len(toks))

    def check(self, tok):
        self._reload()
        with self.lock:
            return bool(tok) and tok in self.tokens

    def first(self):
        self._reload()
        with self.lock:
            return self.tokens[0] if self.tokens else ""

    def set(self, tokens):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write("".join(t + "\n" for t in tokens))
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)
        self._reload()


# ------------------------------------------------------------------------- app

class App:
    def __init__(self, args):
        self.args = args
        self.store = Store(history_size=args.history_size, initial_rv=args.initial_rv)
        self.faults = Faults()
        self.stats = Stats()
        self.tokens = None
        self.bookmark_interval = args.bookmark_interval
        self.watch_timeout = args.watch_timeout
        self.aggregated = not args.no_aggregated_discovery
        self.tables = not args.no_tables
        self.server_address = ""
        self.url = ""
        self.kubeconfig = None
        self.client_token_file = None
        self.ca_file = None


def parse_api_path(path):
    """Classify an API path. Returns a tuple or None (404)."""
    segs = [unquote(s) for s in path.split("/") if s]
    if not segs:
        return ("root",)
    if segs[0] == "api":
        if len(segs) == 1:
            return ("api",)
        group, version, rest = "", segs[1], segs[2:]
        if version not in R.BY_GV[""]:
            return None
    elif segs[0] == "apis":
        if len(segs) == 1:
            return ("apis",)
        group = segs[1]
        if group not in R.BY_GV or group == "":
            return None
        if len(segs) == 2:
            return ("group", group)
        version, rest = segs[2], segs[3:]
        if version not in R.BY_GV[group]:
            return None
    else:
        return None
    if not rest:
        return ("resources", group, version)
    watch = False
    if rest[0] == "watch":
        watch, rest = True, rest[1:]
        if not rest:
            return None
    ns = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        ns, rest = rest[1], rest[2:]
        res = R.lookup(group, version, rest[0])
        if res is None or not res.namespaced:
            return None
    else:
        res = R.lookup(group, version, rest[0])
        if res is None:
            return None
    if len(rest) > 2:
        return None  # subresources are not served
    name = rest[1] if len(rest) == 2 else None
    if res.namespaced and ns is None and name is not None:
        return None
    return ("resource", res, ns, name, watch)


def _qget(q, k, default=None):
    v = q.get(k)
    return v[-1] if v else default


def _truthy(v):
    return v is not None and v.lower() in ("1", "true", "yes")


def encode_continue(rv, key):
    raw = dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": f"{key[0]}/{key[1]}\x00"})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_continue(tok):
    try:
        pad = "=" * (-len(tok) % 4)
        d = json.loads(base64.urlsafe_b64decode(tok + pad))
        ns, _, name = d["start"].rstrip("\x00").partition("/")
        return int(d["rv"]), (ns, name)
    except (ValueError, KeyError, TypeError, binascii.Error):
        return None


class ClientGone(Exception):
    pass


# ------------------------------------------------------------------ API handler

class APIHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-kube-apiserver"
    sys_version = ""
    timeout = 300  # idle keep-alive connections are closed after this

    def log_message(self, fmt, *args):  # http.server's own logging
        log.debug("%s " + fmt, self.address_string(), *args)

    def log_request(self, code="-", size="-"):
        log.debug("%s %s %s -> %s", self.address_string(), self.command, self.path, code)

    # -------------------------------------------------------------- responses

    def send_body(self, code, body, ctype="application/json", extra=None):
        self.server.app.stats.status(code)
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, code, obj, ctype="application/json", extra=None):
        self.send_body(code, dumps(obj).encode(), ctype, extra)

    def send_status(self, code, reason, message, details=None, extra=None):
        self.send_json(code, status_obj(code, reason, message, details), extra=extra)

    def _drain_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > 0:
            self.rfile.read(n)

    def _method_not_allowed(self):
        self._drain_body()
        self.server.app.stats.request(urlsplit(self.path).path, self.command.lower(), None)
        self.send_status(405, "MethodNotAllowed",
                         f"the server does not allow this method on the requested "
                         f"resource (fake apiserver is read-only; use the control API)")

    do_POST = do_PUT = do_PATCH = do_DELETE = _method_not_allowed

    # ---------------------------------------------------------------- dispatch

    def do_GET(self):
        app = self.server.app
        url = urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        q = parse_qs(url.query, keep_blank_values=True)
        route = parse_api_path(path)
        verb, resname = "discovery", None
        if route and route[0] == "resource":
            res, ns, name, watch = route[1:]
            resname = res.plural
            watch = watch or _truthy(_qget(q, "watch"))
            verb = "watch" if watch else ("get" if name else "list")
        elif path in PUBLIC_PATHS:
            verb = "public"
        app.stats.request(path, verb, resname)

        # authentication
        auth = self.headers.get("Authorization", "")
        tok = auth[7:].strip() if auth[:7].lower() == "bearer " else None
        if not app.tokens.check(tok):
            if not (path in PUBLIC_PATHS and not auth):
                log.debug("401 for %s (token %s)", path, "missing" if not auth else "rejected")
                return self.send_status(401, "Unauthorized", "Unauthorized")

        # injected faults
        f = app.faults.take("stall", resname, verb)
        if f:
            secs = float(f.get("seconds", 5))
            log.info("fault: stalling %s for %.1fs", path, secs)
            self._sleep(secs)
        f = app.faults.take("error", resname, verb)
        if f:
            code = int(f.get("status", 500))
            reason = f.get("reason") or {429: "TooManyRequests", 500: "InternalError",
                                          503: "ServiceUnavailable", 504: "Timeout",
                                          403: "Forbidden", 410: "Expired",
                                          401: "Unauthorized"}.get(code, "InternalError")
            extra = {}
            if code == 429 or "retry_after" in f:
                extra["Retry-After"] = str(int(f.get("retry_after", 1)))
            log.info("fault: %d for %s", code, path)
            return self.send_status(code, reason,
                                    f.get("message", f"injected fault: {code}"),
                                    extra=extra)

        try:
            self._route(app, path, q, route, verb)
        except (BrokenPipeError, ConnectionResetError, ClientGone, ssl.SSLError,
                socket.timeout):
            self.close_connection = True

    def _sleep(self, secs):
        end = time.monotonic() + secs
        st = self.server.app.store
        while not st.stopping:
            left = end - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(0.05, left))

    def _client_gone(self):
        """True if the peer closed the connection (polled while a watch is idle)."""
        try:
            r, _, _ = select.select([self.connection], [], [], 0)
            if not r:
                return False
            self.connection.settimeout(0.01)
            try:
                return self.connection.recv(1) == b""
            finally:
                self.connection.settimeout(self.timeout)
        except (ssl.SSLWantReadError, socket.timeout, TimeoutError):
            return False
        except (OSError, ValueError):
            return True

    def _accept(self):
        return self.headers.get("Accept", "") or ""

    def _route(self, app, path, q, route, verb):
        if path in ("/healthz", "/livez", "/readyz"):
            return self.send_body(200, b"ok", "text/plain; charset=utf-8")
        if path == "/version":
            return self.send_json(200, VERSION_INFO)
        if route is None:
            return self.send_status(404, "NotFound",
                                    "the server could not find the requested resource",
                                    {"causes": [{"reason": "UnexpectedServerResponse",
                                                 "message": "404 page not found"}]})
        kind = route[0]
        if kind == "root":
            paths = ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/readyz",
                     "/version"]
            for g in R.GROUPS:
                paths.append(f"/apis/{g}")
                paths += [f"/apis/{g}/{v}" for v in R.BY_GV[g]]
            return self.send_json(200, {"paths": sorted(paths)})
        if kind in ("api", "apis"):
            acc = self._accept()
            agg = self._aggregated_accept(acc) if app.aggregated else None
            if agg:
                ctype, av = agg
                return self.send_json(200, R.aggregated_discovery(kind == "api", av),
                                      ctype=ctype)
            if kind == "api":
                return self.send_json(200, R.api_versions(app.server_address))
            return self.send_json(200, R.api_group_list())
        if kind == "group":
            return self.send_json(200, R.api_group(route[1]))
        if kind == "resources":
            return self.send_json(200, R.api_resource_list(route[1], route[2]))
        res, ns, name, _ = route[1:]
        if verb == "watch":
            return self._watch(app, res, ns, name, q)
        if verb == "get":
            return self._get(app, res, ns, name, q)
        return self._list(app, res, ns, q)

    # -------------------------------------------------------------- table/accept

    @staticmethod
    def _aggregated_accept(acc):
        """First aggregated-discovery media type the client accepts, or None."""
        for entry in acc.split(","):
            params = {}
            for part in entry.split(";")[1:]:
                k, _, v = part.strip().partition("=")
                params[k] = v
            if params.get("as") == "APIGroupDiscoveryList" and \
                    params.get("g") == "apidiscovery.k8s.io":
                if params.get("v") == "v2":
                    return AGG_V2, "apidiscovery.k8s.io/v2"
                if params.get("v") == "v2beta1":
                    return AGG_V2B1, "apidiscovery.k8s.io/v2beta1"
        return None

    def _table_mode(self, app):
        return app.tables and "as=Table" in self._accept()

    # ------------------------------------------------------------------- GET

    def _get(self, app, res, ns, name, q):
        obj = app.store.get(res.plural, ns if res.namespaced else "", name)
        if obj is None:
            return self.send_status(404, "NotFound", f'{res.plural}{"." + res.group if res.group else ""} "{name}" not found',
                                    {"name": name, "group": res.group, "kind": res.plural})
        if self._table_mode(app):
            t = R.table(res, [obj], _qget(q, "includeObject", "Metadata"),
                        {"resourceVersion": obj["metadata"]["resourceVersion"]})
            return self.send_json(200, t, ctype="application/json;as=Table;v=v1;g=meta.k8s.io")
        return self.send_json(200, obj)

    # ------------------------------------------------------------------- LIST

    def _list(self, app, res, ns, q):
        st = app.store
        try:
            match = make_filter(ns, _qget(q, "labelSelector"), _qget(q, "fieldSelector"))
        except SelectorError as e:
            return self.send_status(400, "BadRequest", str(e))
        try:
            limit = max(0, int(_qget(q, "limit") or 0))
        except ValueError:
            return self.send_status(400, "BadRequest", "invalid limit")
        cont = _qget(q, "continue")
        rv_param = _qget(q, "resourceVersion") or ""
        rv_match = _qget(q, "resourceVersionMatch") or ""
        start_key = None
        at = None
        if rv_param and not rv_param.isdigit():
            return self.send_status(400, "BadRequest",
                                    f"invalid resource version: {rv_param!r}")
        if cont:
            d = decode_continue(cont)
            if d is None:
                return self.send_status(400, "BadRequest",
                                        "continue key is not valid: malformed continue token")
            if rv_param and rv_param != "0":
                return self.send_status(400, "BadRequest", "specifying resource version "
                                        "is not allowed when using continue")
            at, start_key = d
        elif rv_match == "Exact":
            at = int(rv_param or 0)
        elif rv_param and rv_param != "0" and int(rv_param) > st.rv:
            return self.send_status(504, "Timeout", f"Too large resource version: "
                                    f"{rv_param}, current: {st.rv}",
                                    {"causes": [{"reason": "ResourceVersionTooLarge",
                                                 "message": "Too large resource version"}],
                                     "retryAfterSeconds": 1})
        try:
            with st.cond:
                if at is not None and at < st.oldest_valid_rv:
                    raise Expired()
                snap_rv, objs = st.snapshot(res.plural, at)
        except Expired:
            if cont:
                return self.send_status(410, "Expired", "The provided continue parameter is "
                                        "too old to display a consistent list result. You "
                                        "can start a new list without the continue "
                                        "parameter.")
            return self.send_status(410, "Expired", f"too old resource version: {at} "
                                    f"({st.oldest_valid_rv + 1})")
        keys = sorted(objs)
        if start_key is not None:
            keys = [k for k in keys if k > start_key]
        items, next_cont, remaining, items_last = [], None, None, None
        for i, k in enumerate(keys):
            o = objs[k]
            if not match(o):
                continue
            if limit and len(items) >= limit:
                rest = [kk for kk in keys[i:] if match(objs[kk])]
                if rest:
                    next_cont = encode_continue(snap_rv, items_last)
                    remaining = len(rest)
                break
            items.append(o)
            items_last = k
        meta = {"resourceVersion": str(snap_rv)}
        if next_cont:
            meta["continue"] = next_cont
            meta["remainingItemCount"] = remaining
        bad = app.faults.take("malformed_list", res.plural, "list")
        if self._table_mode(app):
            body = R.table(res, items, _qget(q, "includeObject", "Metadata"), meta)
            ctype = "application/json;as=Table;v=v1;g=meta.k8s.io"
        else:
            body = {"kind": res.list_kind, "apiVersion": res.api_version, "metadata": meta,
                    "items": [{k: v for k, v in o.items() if k not in ("kind", "apiVersion")}
                              for o in items]}
            ctype = "application/json"
            if bad and bad.get("mode", "item") == "item":
                pos = len(body["items"]) // 2
                body["items"].insert(pos, {"metadata": "not-an-object", "spec": 42,
                                           "status": [None]})
                log.info("fault: malformed item in list of %s", res.plural)
        data = dumps(body).encode()
        if bad and bad.get("mode") == "syntax":
            data = data[: max(1, len(data) // 2)]
            log.info("fault: truncated JSON list of %s", res.plural)
        self.send_body(200, data, ctype)

    # ------------------------------------------------------------------ WATCH

    def _write_chunk(self, data):
        if not data:
            return
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _watch(self, app, res, ns, name, q):
        st = app.store
        fs = _qget(q, "fieldSelector") or ""
        if name:
            fs = f"metadata.name={name}" + ("," + fs if fs else "")
        try:
            match = make_filter(ns, _qget(q, "labelSelector"), fs)
        except SelectorError as e:
            return self.send_status(400, "BadRequest", str(e))
        rv_param = _qget(q, "resourceVersion") or ""
        if rv_param and not rv_param.isdigit():
            return self.send_status(400, "BadRequest",
                                    f"invalid resource version: {rv_param!r}")
        allow_bm = _truthy(_qget(q, "allowWatchBookmarks"))
        send_initial = _truthy(_qget(q, "sendInitialEvents"))
        try:
            timeout = float(_qget(q, "timeoutSeconds") or app.watch_timeout)
        except ValueError:
            return self.send_status(400, "BadRequest", "invalid timeoutSeconds")
        table = self._table_mode(app)
        include_obj = _qget(q, "includeObject", "Metadata")

        self.server.app.stats.status(200)
        self.send_response(200)
        self.send_header("Content-Type", "application/json;as=Table;v=v1;g=meta.k8s.io"
                         if table else "application/json")
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        app.stats.watch_delta(+1)
        log.debug("watch %s ns=%s rv=%s bookmarks=%s timeout=%s", res.plural, ns, rv_param,
                  allow_bm, timeout)
        state = {"columns_sent": False}

        def line(etype, obj):
            if table:
                first = not state["columns_sent"]
                state["columns_sent"] = True
                obj = R.table(res, [obj], include_obj,
                              {"resourceVersion": obj["metadata"].get("resourceVersion", "")},
                              with_columns=first)
            return (dumps({"type": etype, "object": obj}) + "\n").encode()

        def bookmark(rv, initial_end=False):
            md = {"resourceVersion": str(rv), "creationTimestamp": None}
            if initial_end:
                md["annotations"] = {"k8s.io/initial-events-end": "true"}
            obj = {"kind": res.kind, "apiVersion": res.api_version, "metadata": md}
            return (dumps({"type": "BOOKMARK", "object": obj}) + "\n").encode()

        def emit(lines):
            """Write event lines, applying watch faults. False = stream must end."""
            if not lines:
                return True
            f = app.faults.take("stall_watch", res.plural, "watch")
            if f:
                log.info("fault: stalling watch of %s for %ss", res.plural,
                         f.get("seconds", 5))
                self._sleep(float(f.get("seconds", 5)))
            f = app.faults.take("malformed_event", res.plural, "watch")
            if f and f.get("position", "before") == "before":
                mode = f.get("mode", "syntax")
                bad = {"syntax": b'{"type":"MODIFIED","object":{"kind":"' +
                       res.kind.encode() + b'","metadata":{"name":\n',
                       "object": b'{"type":"MODIFIED","object":{"kind":"' +
                       res.kind.encode() + b'","metadata":"oops","spec":7}}\n',
                       "type": b'{"type":"BOGUS","object":{}}\n'}.get(mode)
                if bad is None:
                    bad = b"this is not json\n"
                log.info("fault: malformed watch event (%s) on %s", mode, res.plural)
                lines = [bad] + lines
            f = app.faults.take("drop_watch", res.plural, "watch")
            if f:
                # everything before the victim line goes out intact
                victim = 0
                head = b"".join(lines[:victim])
                half = lines[victim][: max(1, len(lines[victim]) // 2)]
                log.info("fault: dropping watch of %s mid-object", res.plural)
                self._write_chunk(head + half)
                self.wfile.flush()
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return False
            self._write_chunk(b"".join(lines))
            app.stats.sent(len(lines))
            return True

        ended_ok = True
        reason = None
        try:
            gen = st.close_gen
            init_lines = []
            with st.cond:
                if rv_param in ("", "0") or send_initial:
                    last = st.rv
                    if send_initial and rv_param not in ("", "0"):
                        last = max(st.rv, int(rv_param))
                    objs = st.objects.get(res.plural, {})
                    init = [objs[k] for k in sorted(objs) if match(objs[k])]
                    expired = False
                else:
                    last = int(rv_param)
                    expired = last < st.oldest_valid_rv
                    oldest = st.oldest_valid_rv
                    init = []
            if expired:
                msg = f"too old resource version: {last} ({oldest + 1})"
                log.debug("watch %s: %s", res.plural, msg)
                self._write_chunk((dumps({"type": "ERROR", "object": status_obj(
                    410, "Expired", msg)}) + "\n").encode())
                return
            init_lines = [line("ADDED", o) for o in init]
            if send_initial and allow_bm:
                init_lines.append(bookmark(last, initial_end=True))
            if not emit(init_lines):
                ended_ok = False
                return
            now = time.monotonic()
            deadline = now + timeout
            interval = app.bookmark_interval
            next_bm = now + interval
            next_probe = now + 1.0
            while True:
                reason = None
                with st.cond:
                    while True:
                        if st.stopping or st.close_gen != gen:
                            reason = "closed"
                            break
                        now = time.monotonic()
                        if now >= deadline:
                            reason = "timeout"
                            break
                        if st.rv > last or (allow_bm and now >= next_bm):
                            break
                        if now >= next_probe:
                            reason = "probe"  # checked below, outside the lock
                            break
                        wake = min(deadline, next_bm) if allow_bm else deadline
                        st.cond.wait(min(max(wake - now, 0.001), 1.0))
                    if reason and reason != "probe":
                        break
                    if reason == "probe":
                        evs = ()
                    else:
                        try:
                            evs = st.events_after(last, WATCH_BATCH)
                        except Expired:
                            evs = None
                            oldest = st.hist_base - 1
                    cur_rv = st.rv
                if reason == "probe":
                    next_probe = time.monotonic() + 1.0
                    if self._client_gone():
                        reason = "gone"
                        break
                    continue
                if evs is None:
                    msg = f"too old resource version: {last} ({oldest + 1})"
                    self._write_chunk((dumps({"type": "ERROR", "object": status_obj(
                        410, "Expired", msg)}) + "\n").encode())
                    return
                out = []
                for ev in evs:
                    if ev.plural != res.plural:
                        continue
                    m_new = match(ev.obj)
                    if ev.type == "MODIFIED":
                        m_old = match(ev.prev)
                        if m_new and m_old:
                            t, o = "MODIFIED", ev.obj
                        elif m_new:
                            t, o = "ADDED", ev.obj
                        elif m_old:
                            t, o = "DELETED", dict(ev.prev, metadata=dict(
                                ev.prev["metadata"], resourceVersion=str(ev.rv)))
                        else:
                            continue
                    elif m_new:
                        t, o = ev.type, ev.obj
                    else:
                        continue
                    if not table and t == ev.type:
                        if ev.line is None:
                            ev.line = line(t, o)
                        out.append(ev.line)
                    else:
                        out.append(line(t, o))
                if evs:
                    last = evs[-1].rv
                if allow_bm and time.monotonic() >= next_bm and len(evs) < WATCH_BATCH:
                    last = max(last, cur_rv) if not evs else last
                    out.append(bookmark(last))
                    next_bm = time.monotonic() + interval
                if not emit(out):
                    ended_ok = False
                    return
        finally:
            app.stats.watch_delta(-1)
            if reason == "gone":
                ended_ok = False
                self.close_connection = True
            if ended_ok:
                try:
                    self.wfile.write(b"0\r\n\r\n")
                except OSError:
                    self.close_connection = True
            if st.stopping:
                self.close_connection = True


# -------------------------------------------------------------- control handler

class ControlHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-apiserver-control"
    sys_version = ""
    timeout = 300

    def log_message(self, fmt, *args):
        log.debug("control %s " + fmt, self.address_string(), *args)

    def log_request(self, code="-", size="-"):
        log.debug("control %s %s -> %s", self.command, self.path, code)

    def _reply(self, code, obj):
        body = (dumps(obj) + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if not raw.strip():
            return None
        return json.loads(raw)

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("POST")

    def do_DELETE(self):
        self._handle("DELETE")

    def _handle(self, method):
        try:
            body = self._body() if method != "GET" else None
        except ValueError as e:
            return self._reply(400, {"error": f"bad JSON body: {e}"})
        url = urlsplit(self.path)
        path = url.path.rstrip("/")
        if path.startswith("/_control"):
            path = path[len("/_control"):] or "/"
        q = parse_qs(url.query)
        try:
            code, obj = self._dispatch(method, path, q, body)
        except ValueError as e:
            code, obj = 400, {"error": str(e)}
        except Exception as e:  # keep the control server alive; report the bug
            log.exception("control %s %s failed", method, self.path)
            code, obj = 500, {"error": f"{type(e).__name__}: {e}"}
        self._reply(code, obj)

    def _dispatch(self, method, path, q, body):
        app = self.server.app
        st = app.store
        if path in ("/", "/healthz"):
            return 200, {"ok": True}
        if path == "/stats" and method == "GET":
            s = app.stats.snapshot()
            with st.cond:
                s.update({"resource_version": st.rv, "oldest_valid_rv": st.oldest_valid_rv,
                          "history_len": len(st.history), "objects": st.counts()})
            s["faults"] = app.faults.list()
            s["faults_fired"] = dict(app.faults.fired)
            return 200, s
        if path == "/info" and method == "GET":
            return 200, ready_info(app)
        if path == "/objects":
            if method == "GET":
                kind = (q.get("kind") or [None])[0]
                items = [o for o in st.all_objects() if not kind or o["kind"] == kind]
                return 200, {"resourceVersion": str(st.rv), "items": items}
            if method == "POST":
                objs = _as_list(body)
                results = []
                for o in objs:
                    et, stored = st.upsert(o)
                    md = stored["metadata"]
                    results.append({"type": et, "kind": stored["kind"],
                                    "namespace": md.get("namespace"), "name": md["name"],
                                    "uid": md["uid"],
                                    "resourceVersion": md["resourceVersion"]})
                return 200, {"resourceVersion": str(st.rv), "results": results}
        if path.startswith("/objects/") and method == "DELETE":
            parts = path.split("/")[2:]
            if len(parts) == 3:
                kind, ns, name = parts
            elif len(parts) == 2:
                kind, ns, name = parts[0], None, parts[1]
            else:
                raise ValueError("use DELETE /_control/objects/KIND_OR_PLURAL/[NS/]NAME")
            o = st.delete(kind, ns, name)
            if o is None:
                return 404, {"error": "not found"}
            return 200, {"resourceVersion": str(st.rv), "deleted": 1}
        if path == "/delete" and method == "POST":
            n = 0
            for ref in _as_list(body):
                kind = ref.get("kind") or ref.get("resource")
                md = ref.get("metadata") or {}
                ns = ref.get("namespace", md.get("namespace"))
                name = ref.get("name", md.get("name"))
                if st.delete(kind, ns, name) is not None:
                    n += 1
            return 200, {"resourceVersion": str(st.rv), "deleted": n}
        if path == "/batch" and method == "POST":
            ops = body.get("ops") if isinstance(body, dict) else body
            out = []
            for op in ops or []:
                if op.get("op") == "delete":
                    o = st.delete(op.get("kind") or op.get("resource"), op.get("namespace"),
                                  op["name"])
                    out.append("DELETED" if o is not None else "NOTFOUND")
                elif op.get("op") in ("upsert", "add", "replace", None):
                    out.append(st.upsert(op["object"])[0])
                else:
                    raise ValueError(f"unknown op {op.get('op')!r}")
            return 200, {"resourceVersion": str(st.rv), "results": out}
        if path == "/reset" and method == "POST":
            n = st.reset()
            return 200, {"resourceVersion": str(st.rv), "deleted": n}
        if path == "/compact" and method == "POST":
            rv = (body or {}).get("resourceVersion")
            oldest = st.compact(int(rv) if rv is not None else None)
            return 200, {"resourceVersion": str(st.rv), "compacted": oldest}
        if path == "/faults":
            if method == "GET":
                return 200, {"faults": app.faults.list(), "types": FAULT_TYPES}
            if method == "POST":
                added = [app.faults.add(f) for f in _as_list(body)]
                return 200, {"faults": added}
            if method == "DELETE":
                return 200, {"cleared": app.faults.clear()}
        if path == "/tokens" and method == "POST":
            toks = (body or {}).get("tokens")
            if not toks or not all(isinstance(t, str) and t for t in toks):
                raise ValueError('body must be {"tokens": ["tok", ...]}')
            app.tokens.set(toks)
            if app.client_token_file:
                _write_secret(app.client_token_file, toks[0])
            if (body or {}).get("update_kubeconfig") and app.kubeconfig:
                write_kubeconfig(app)
            log.info("accepted tokens rotated (%d)", len(toks))
            return 200, {"tokens": len(toks)}
        if path == "/close-watches" and method == "POST":
            st.close_watches()
            return 200, {"closed": True}
        return 404, {"error": f"no control endpoint {method} {path}"}


def _as_list(body):
    if body is None:
        raise ValueError("empty body")
    if isinstance(body, list):
        return body
    if isinstance(body, dict) and isinstance(body.get("items"), list) and "kind" not in body:
        return body["items"]
    if isinstance(body, dict) and str(body.get("kind", "")).endswith("List") and \
            isinstance(body.get("items"), list):
        return body["items"]
    return [body]


def _write_secret(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


# ------------------------------------------------------------------- servers

class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, addr, handler, app, ssl_ctx=None):
        self.address_family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
        self.app = app
        self.ssl_ctx = ssl_ctx
        super().__init__(addr, handler)

    def finish_request(self, request, client_address):
        try:  # headers and body go out in separate writes: avoid Nagle delays
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        if self.ssl_ctx is None:
            return super().finish_request(request, client_address)
        request.settimeout(30)
        try:
            tls = self.ssl_ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            log.debug("TLS handshake with %s failed: %s", client_address, e)
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, ssl.SSLError, socket.timeout, TimeoutError)):
            log.debug("connection from %s: %s", client_address, exc)
        else:
            log.exception("error handling request from %s", client_address)


def _url_host(h):
    return f"[{h}]" if ":" in h else h


def write_kubeconfig(app):
    tlsutil.write_kubeconfig(app.kubeconfig, app.url, app.ca_file,
                             token=None if app.client_token_file else app.tokens.first(),
                             token_file=app.client_token_file)


def ready_info(app):
    return {"url": app.url, "control_url": app.control_url, "kubeconfig": app.kubeconfig,
            "ca_file": app.ca_file, "token": app.tokens.first(),
            "token_file": app.tokens.path, "state_dir": app.args.state_dir,
            "pid": os.getpid()}


def build_parser():
    p = argparse.ArgumentParser(
        prog="python3 -m sim.fake_apiserver",
        description="Fake kube-apiserver for tests and demos (read-only API over HTTPS, "
        "plain-HTTP loopback control API).")
    p.add_argument("--bind", default="127.0.0.1", help="API listen address")
    p.add_argument("--port", type=int, default=0, help="API port (0 = pick a free one)")
    p.add_argument("--control-bind", default="127.0.0.1", help="control API address")
    p.add_argument("--control-port", type=int, default=0,
                   help="control API port (0 = pick a free one)")
    p.add_argument("--state-dir", help="where certs, tokens and kubeconfig go "
                   "(default: a new temp dir)")
    p.add_argument("--san", action="append", default=[],
                   help="extra subjectAltName (IP or DNS) for the server cert; repeatable")
    p.add_argument("--reuse-certs", action="store_true",
                   help="keep an existing CA in --state-dir instead of a new one")
    p.add_argument("--token-file", help="accepted bearer tokens, one per line, re-read on "
                   "change (default: STATE_DIR/tokens with one random token)")
    p.add_argument("--kubeconfig-out", help="kubeconfig to write "
                   "(default: STATE_DIR/kubeconfig)")
    p.add_argument("--kubeconfig-token-file", action="store_true",
                   help="kubeconfig references STATE_DIR/client-token (tokenFile:) instead "
                   "of an inline token; token rotation rewrites that file")
    p.add_argument("--objects", action="append", default=[],
                   help="JSON file with a list of objects (or a v1 List) to load; repeatable")
    p.add_argument("--demo-cluster", action="store_true",
                   help="preload objects.demo_cluster()")
    p.add_argument("--ready-file", help="write the ready info JSON here once serving")
    p.add_argument("--history-size", type=int, default=20000,
                   help="watch history window in events")
    p.add_argument("--initial-rv", type=int, default=100)
    p.add_argument("--bookmark-interval", type=float, default=60.0,
                   help="seconds between BOOKMARK events on watches that allow them")
    p.add_argument("--watch-timeout", type=float, default=1800.0,
                   help="watch duration when the client gives no timeoutSeconds")
    p.add_argument("--no-aggregated-discovery", action="store_true",
                   help="always answer /api and /apis with legacy discovery")
    p.add_argument("--no-tables", action="store_true",
                   help="ignore Accept: as=Table (kubectl then prints plain lists)")
    p.add_argument("--log-level", default="info",
                   choices=["debug", "info", "warning", "error"])
    return p


def load_objects_file(path):
    with open(path) as f:
        data = json.load(f)
    return _as_list(data)


def main(argv=None):
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=getattr(logging, args.log_level.upper()), stream=sys.stderr,
                        format="%(asctime)s fake-apiserver %(levelname)s %(message)s")
    if not args.state_dir:
        args.state_dir = tempfile.mkdtemp(prefix="fake-apiserver-")
    args.state_dir = os.path.abspath(args.state_dir)
    os.makedirs(args.state_dir, exist_ok=True)
    app = App(args)

    certs = tlsutil.generate(args.state_dir, args.san, reuse=args.reuse_certs)
    app.ca_file = certs["ca"]
    token_file = args.token_file
    if not token_file:
        token_file = os.path.join(args.state_dir, "tokens")
        _write_secret(token_file, secrets.token_hex(24))
    elif not os.path.exists(token_file):
        _write_secret(token_file, secrets.token_hex(24))
    app.tokens = Tokens(os.path.abspath(token_file))

    for path in args.objects:
        for o in load_objects_file(path):
            app.store.upsert(o)
    if args.demo_cluster:
        from . import objects as objmod
        for o in objmod.demo_cluster():
            app.store.upsert(o)

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(certs["cert"], certs["key"])
    ctx.set_alpn_protocols(["http/1.1"])
    api = _Server((args.bind, args.port), APIHandler, app, ctx)
    ctl = _Server((args.control_bind, args.control_port), ControlHandler, app)
    host = _url_host(args.bind)
    port = api.server_address[1]
    app.server_address = f"{args.bind}:{port}" if ":" not in args.bind else f"{host}:{port}"
    app.url = f"https://{host}:{port}"
    app.control_url = f"http://{_url_host(args.control_bind)}:{ctl.server_address[1]}"
    app.kubeconfig = os.path.abspath(args.kubeconfig_out or
                                     os.path.join(args.state_dir, "kubeconfig"))
    if args.kubeconfig_token_file:
        app.client_token_file = os.path.join(args.state_dir, "client-token")
        _write_secret(app.client_token_file, app.tokens.first())
    write_kubeconfig(app)

    stop = threading.Event()

    def on_signal(signum, _frame):
        log.info("signal %d: shutting down", signum)
        stop.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05},
                                daemon=True, name=n) for s, n in ((api, "api"),
                                                                  (ctl, "control"))]
    for t in threads:
        t.start()
    info = ready_info(app)
    log.info("serving %s (control %s), kubeconfig %s, %d objects, rv %d", app.url,
             app.control_url, app.kubeconfig, sum(app.store.counts().values()),
             app.store.rv)
    if args.ready_file:
        tmp = args.ready_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump(info, f)
        os.replace(tmp, args.ready_file)
    sys.stdout.write("READY " + dumps(info) + "\n")
    sys.stdout.flush()

    while not stop.wait(0.5):
        pass
    app.store.stop()
    api.shutdown()
    ctl.shutdown()
    api.server_close()
    ctl.server_close()
    log.info("stopped")
    return 0
