"""In-memory object store with a global resourceVersion counter, a bounded event
history (for watch replay and consistent paginated lists), label/field selectors,
fault injection registry and request statistics."""

import copy
import re
import threading
import time

from . import objects as objmod
from .resources import resource_for_object


class Expired(Exception):
    """The requested resourceVersion is older than the retained history."""


class Event:
    __slots__ = ("rv", "type", "plural", "key", "obj", "prev", "line")

    def __init__(self, rv, type_, plural, key, obj, prev):
        self.rv = rv
        self.type = type_
        self.plural = plural
        self.key = key        # (namespace or "", name)
        self.obj = obj        # object after the event (DELETED: last state, new RV)
        self.prev = prev      # object before the event, None for ADDED
        self.line = None      # cached serialized JSON event line (plain JSON watches)


class Store:
    def __init__(self, history_size=20000, initial_rv=100):
        self.cond = threading.Condition(threading.RLock())
        self.rv = initial_rv
        self.objects = {}          # plural -> {(ns, name): obj}
        self.history = []          # history[i].rv == self.hist_base + i
        self.hist_base = initial_rv + 1
        self.compacted_rv = initial_rv
        self.history_size = max(1, int(history_size))
        self.stopping = False
        self.close_gen = 0         # bumped to end all open watches cleanly

    # ---------------------------------------------------------------- mutation

    def _append(self, ev):
        self.history.append(ev)
        excess = len(self.history) - self.history_size
        if excess > 0:
            # trim in chunks so the list shift is amortised
            drop = max(excess, self.history_size // 10)
            drop = min(drop, len(self.history) - 1)
            del self.history[:drop]
            self.hist_base += drop

    def upsert(self, obj):
        """Create or replace an object; returns (event_type, stored_copy)."""
        if not isinstance(obj, dict):
            raise ValueError("object must be a JSON object")
        res = resource_for_object(obj)
        o = copy.deepcopy(obj)
        o["kind"] = res.kind
        o["apiVersion"] = res.api_version
        md = o.setdefault("metadata", {})
        if not isinstance(md, dict) or not md.get("name"):
            raise ValueError("metadata.name is required")
        if res.namespaced:
            md["namespace"] = md.get("namespace") or "default"
        else:
            md.pop("namespace", None)
        key = (md.get("namespace", ""), md["name"])
        with self.cond:
            table = self.objects.setdefault(res.plural, {})
            prev = table.get(key)
            if prev is not None:
                md.setdefault("uid", prev["metadata"].get("uid"))
                md.setdefault("creationTimestamp",
                              prev["metadata"].get("creationTimestamp"))
            md.setdefault("uid", objmod.make_uid(res.kind, md.get("namespace"), md["name"]))
            md.setdefault("creationTimestamp", objmod.now_ts())
            self.rv += 1
            md["resourceVersion"] = str(self.rv)
            table[key] = o
            et = "MODIFIED" if prev is not None else "ADDED"
            self._append(Event(self.rv, et, res.plural, key, o, prev))
            self.cond.notify_all()
            return et, o

    def delete(self, kind_or_plural, namespace, name):
        from .resources import BY_KIND, BY_PLURAL
        res = BY_KIND.get(kind_or_plural) or BY_PLURAL.get(kind_or_plural)
        if res is None:
            raise ValueError(f"unknown kind/resource {kind_or_plural!r}")
        key = ((namespace or "default") if res.namespaced else "", name)
        with self.cond:
            table = self.objects.get(res.plural, {})
            prev = table.pop(key, None)
            if prev is None:
                return None
            self.rv += 1
            o = copy.deepcopy(prev)
            o["metadata"]["resourceVersion"] = str(self.rv)
            self._append(Event(self.rv, "DELETED", res.plural, key, o, prev))
            self.cond.notify_all()
            return o

    def reset(self):
        """Delete every object (emitting DELETED events)."""
        with self.cond:
            n = 0
            for plural in list(self.objects):
                for (ns, name) in sorted(self.objects[plural]):
                    self.delete(plural, ns or None, name)
                    n += 1
            return n

    def compact(self, rv=None):
        """Like etcd compaction: new watches, continue tokens and Exact lists from a
        resourceVersion older than rv (default: the current one) get 410 Expired.
        Watches already open keep streaming."""
        with self.cond:
            target = self.rv if rv is None else min(int(rv), self.rv)
            self.compacted_rv = max(self.compacted_rv, target)
            return self.oldest_valid_rv

    def stop(self):
        with self.cond:
            self.stopping = True
            self.cond.notify_all()

    def close_watches(self):
        with self.cond:
            self.close_gen += 1
            self.cond.notify_all()

    # ---------------------------------------------------------------- reading

    @property
    def oldest_valid_rv(self):
        """Smallest resourceVersion a new watch may start from."""
        return max(self.hist_base - 1, self.compacted_rv)

    def events_after(self, rv, limit):
        """Events with resourceVersion > rv (up to limit). Caller holds cond.
        Raises Expired if some were trimmed."""
        if rv < self.hist_base - 1:
            raise Expired()
        start = rv + 1 - self.hist_base
        if start >= len(self.history):
            return []
        return self.history[start:start + limit]

    def get(self, plural, ns, name):
        with self.cond:
            return self.objects.get(plural, {}).get((ns or "", name))

    def snapshot(self, plural, at_rv=None):
        """(rv, {key: obj}) for one resource, at the current RV or at an older
        at_rv reconstructed by undoing history (raises Expired if not possible)."""
        with self.cond:
            cur = dict(self.objects.get(plural, {}))
            if at_rv is None or at_rv >= self.rv:
                return self.rv, cur
            if at_rv < self.oldest_valid_rv:
                raise Expired()
            for ev in reversed(self.history[at_rv + 1 - self.hist_base:]):
                if ev.plural != plural:
                    continue
                if ev.prev is None:
                    cur.pop(ev.key, None)
                else:
                    cur[ev.key] = ev.prev
            return at_rv, cur

    def counts(self):
        with self.cond:
            return {p: len(t) for p, t in self.objects.items()}

    def all_objects(self):
        with self.cond:
            out = []
            for p in sorted(self.objects):
                out += [self.objects[p][k] for k in sorted(self.objects[p])]
            return out


# -------------------------------------------------------------------- selectors

class SelectorError(ValueError):
    pass


_SET_RE = re.compile(r"^\s*([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


def _split_top(s):
    """Split on commas not inside parentheses."""
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def parse_label_selector(s):
    """Returns a predicate over a labels dict. Supports =, ==, !=, in, notin,
    existence (key) and non-existence (!key)."""
    if not s:
        return None
    reqs = []
    for term in _split_top(s):
        m = _SET_RE.match(term)
        if m:
            key, op, vals = m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",")
                                                     if v.strip()}
            if op == "in":
                reqs.append(lambda l, k=key, v=vals: k in l and l[k] in v)
            else:
                reqs.append(lambda l, k=key, v=vals: k not in l or l[k] not in v)
        elif "!=" in term:
            k, v = (x.strip() for x in term.split("!=", 1))
            reqs.append(lambda l, k=k, v=v: l.get(k) != v)
        elif "==" in term or "=" in term:
            k, v = (x.strip() for x in re.split("==?", term, maxsplit=1))
            reqs.append(lambda l, k=k, v=v: l.get(k) == v)
        elif term.startswith("!"):
            k = term[1:].strip()
            reqs.append(lambda l, k=k: k not in l)
        elif re.match(r"^[A-Za-z0-9./_-]+$", term):
            reqs.append(lambda l, k=term: k in l)
        else:
            raise SelectorError(f"unable to parse requirement: {term!r}")
    return lambda labels: all(r(labels) for r in reqs)


def _field_value(obj, path):
    cur = obj
    for p in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(p)
        if cur is None:
            return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def parse_field_selector(s):
    """Field selector on any dotted path (metadata.name, metadata.namespace,
    spec.nodeName, status.phase, ...) with =, == and !=."""
    if not s:
        return None
    reqs = []
    for term in _split_top(s):
        if "!=" in term:
            k, v = term.split("!=", 1)
            reqs.append(lambda o, k=k.strip(), v=v.strip(): _field_value(o, k) != v)
        elif "=" in term:
            k, v = re.split("==?", term, maxsplit=1)
            reqs.append(lambda o, k=k.strip(), v=v.strip(): _field_value(o, k) == v)
        else:
            raise SelectorError(f"invalid field selector: {term!r}")
    return lambda obj: all(r(obj) for r in reqs)


def make_filter(namespace, label_sel, field_sel):
    lp = parse_label_selector(label_sel)
    fp = parse_field_selector(field_sel)

    def match(obj):
        if not isinstance(obj, dict):
            return False
        md = obj.get("metadata") or {}
        if namespace and md.get("namespace") != namespace:
            return False
        if lp and not lp(md.get("labels") or {}):
            return False
        if fp and not fp(obj):
            return False
        return True
    return match


# ----------------------------------------------------------------------- faults

FAULT_TYPES = {
    "error":          "respond with an error status (default 500) instead of serving",
    "stall":          "sleep `seconds` before handling the request",
    "drop_watch":     "send half of the next watch event line, then close the connection",
    "malformed_event": "send a malformed JSON line before the next watch event (stream goes on)",
    "malformed_list": "corrupt the next LIST: mode=item (bad item) or mode=syntax (bad JSON)",
    "stall_watch":    "pause an open watch stream for `seconds` before its next write",
}


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.items = []
        self.next_id = 1
        self.fired = {}

    def add(self, spec):
        t = spec.get("type")
        if t not in FAULT_TYPES:
            raise ValueError(f"unknown fault type {t!r}; known: {sorted(FAULT_TYPES)}")
        f = dict(spec)
        f["count"] = int(f.get("count", 1))
        if f["count"] == 0:
            raise ValueError("count must be >0 (or -1 for 'until cleared')")
        with self.lock:
            f["id"] = self.next_id
            self.next_id += 1
            self.items.append(f)
        return f

    def take(self, type_, resource=None, verb=None):
        """Consume one matching armed fault (or None)."""
        with self.lock:
            for f in self.items:
                if f["type"] != type_:
                    continue
                if f.get("resource") and f["resource"] != resource:
                    continue
                if f.get("verb") and f["verb"] != verb:
                    continue
                if f["count"] > 0:
                    f["count"] -= 1
                    if f["count"] == 0:
                        self.items.remove(f)
                self.fired[type_] = self.fired.get(type_, 0) + 1
                return dict(f)
        return None

    def peek(self, type_):
        with self.lock:
            return any(f["type"] == type_ for f in self.items)

    def clear(self):
        with self.lock:
            n = len(self.items)
            self.items = []
            return n

    def list(self):
        with self.lock:
            return [dict(f) for f in self.items]


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.paths = {}
        self.verbs = {}
        self.statuses = {}
        self.total = 0
        self.watches_open = 0
        self.watches_total = 0
        self.events_sent = 0
        self.started = time.time()

    def request(self, path, verb, resource):
        with self.lock:
            self.total += 1
            self.paths[path] = self.paths.get(path, 0) + 1
            if verb:
                k = f"{verb} {resource}" if resource else verb
                self.verbs[k] = self.verbs.get(k, 0) + 1

    def status(self, code):
        with self.lock:
            self.statuses[str(code)] = self.statuses.get(str(code), 0) + 1

    def watch_delta(self, d):
        with self.lock:
            self.watches_open += d
            if d > 0:
                self.watches_total += 1

    def sent(self, n):
        with self.lock:
            self.events_sent += n

    def snapshot(self):
        with self.lock:
            return {"requests_total": self.total, "requests": dict(self.paths),
                    "verbs": dict(self.verbs), "statuses": dict(self.statuses),
                    "watches_open": self.watches_open,
                    "watches_total": self.watches_total,
                    "watch_events_sent": self.events_sent,
                    "uptime_seconds": round(time.time() - self.started, 3)}
