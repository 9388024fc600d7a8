#!/usr/bin/env python3
"""deploy/grafana/dashboard.json against a real Prometheus.

  test_dashboard.py lint        static checks (panels, variables, no hard-coded datasource uid)
  test_dashboard.py prometheus  start Debian's prometheus on 127.0.0.1 (free port, temp data dir)
                                scraping the fixture exporter (fixture_exporter.py, agent-shaped
                                metrics), then run every variable query and every panel query,
                                variables expanded to real values, through the HTTP API: no
                                errors; data for every panel with all values selected; valid Node
                                Graph frames (nodes + edges, edges only between known nodes) for
                                every selection. Everything is stopped even on failure; < 90 s.
"""
from __future__ import annotations

import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import helmlib as H  # noqa: E402
import fixture_exporter as FX  # noqa: E402

DEADLINE = time.monotonic() + 80
BUILTINS = {"__range": "5m", "__rate_interval": "1m", "__interval": "15s", "__range_s": "300",
            "__interval_ms": "15000"}
VAR_REF = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")
REGEX_SPECIALS = set("\\^$*+?.()|{}[]")


def load_dashboard():
    return json.loads(H.DASHBOARD.read_text())


def all_panels(d):
    for p in d.get("panels", []):
        yield p
        for sub in p.get("panels", []):  # collapsed rows
            yield sub


def targets(d):
    for p in all_panels(d):
        for t in p.get("targets", []):
            if "expr" in t:
                yield p, t


# ------------------------------------------------------------------ static lint

def cmd_lint(checks):
    d = load_dashboard()
    raw = H.DASHBOARD.read_text()

    def datasources():
        bad = []

        def walk(o, path):
            if isinstance(o, dict):
                ds = o.get("datasource")
                if isinstance(ds, dict) and "uid" in ds and not str(ds["uid"]).startswith("${"):
                    bad.append(f"{path}: {ds}")
                if isinstance(ds, str) and ds and not ds.startswith("$"):
                    bad.append(f"{path}: {ds}")
                for k, v in o.items():
                    walk(v, f"{path}.{k}")
            elif isinstance(o, list):
                for i, v in enumerate(o):
                    walk(v, f"{path}[{i}]")
        walk(d, "$")
        assert not bad, "hard-coded datasource: " + "; ".join(bad)
        assert "${DS_" not in raw, "import-time ${DS_...} inputs do not resolve when provisioned"
    checks("no hard-coded datasource uid", datasources)

    def variables():
        names = [v["name"] for v in d["templating"]["list"]]
        for want in ("datasource", "namespace", "kind", "workload", "port"):
            assert want in names, f"template variable {want} missing"
        dsv = next(v for v in d["templating"]["list"] if v["name"] == "datasource")
        assert dsv["type"] == "datasource" and dsv["query"] == "prometheus"
        used = set()
        for _, t in targets(d):
            for m in VAR_REF.finditer(t["expr"]):
                name = next(g for g in m.groups() if g)
                if not name.isdigit():
                    used.add(name)
        for n in used:
            assert n in names or n in BUILTINS, f"expression uses undefined variable ${n}"
    checks("template variables datasource/namespace/kind/workload/port", variables)

    def node_graph():
        ng = [p for p in all_panels(d) if p["type"] == "nodeGraph"]
        assert len(ng) == 1 and ng[0]["title"] == "Service Map", "one Node Graph panel 'Service Map'"
        refs = {t["refId"]: t for t in ng[0]["targets"]}
        assert set(refs) == {"nodes", "edges"}, f"refIds {set(refs)}"
        for t in refs.values():
            assert "caretta_links_observed" in t["expr"]
            assert t["format"] == "table" and t["instant"] is True
    checks("Service Map Node Graph with nodes and edges frames", node_graph)

    def panels():
        exprs = "\n".join(t["expr"] for _, t in targets(d))
        for metric in ("caretta_links_observed", "caretta_link_bytes_sent_total",
                       "caretta_link_failed_connects_total", "caretta_link_retransmits_total",
                       "caretta_link_zone_bytes_total"):
            assert metric in exprs, f"no panel uses {metric}"
        titles = {p["title"] for p in all_panels(d)}
        for t in ("Active Ports", "Top Throughput Workloads", "Top Connections", "Failed Connects",
                  "Retransmits", "Traffic Between Zones"):
            assert t in titles, f"panel {t} missing"
        ids = [p["id"] for p in all_panels(d)]
        assert len(ids) == len(set(ids)), "duplicate panel ids"
    checks("panels: ports, throughput, connections, failures, retransmits, zones", panels)

    def promtool_syntax():
        promtool = shutil.which("promtool")
        if not promtool:
            print("     (promtool not installed: parse check left to the prometheus test)")
            return
        # promtool has no pure parser command; `promtool check rules` parses each expr.
        variables = {v["name"]: v for v in d["templating"]["list"]}
        rules = {"groups": [{"name": "dashboard", "rules": []}]}
        for i, (_, t) in enumerate(targets(d)):
            rules["groups"][0]["rules"].append(
                {"record": f"dashboard:expr_{i}", "expr": expand(t["expr"], {}, variables)})
        with tempfile.TemporaryDirectory() as tmp:
            f = Path(tmp) / "rules.yml"
            f.write_text(json.dumps(rules))
            p = subprocess.run([promtool, "check", "rules", str(f)], capture_output=True, text=True, timeout=30)
            assert p.returncode == 0, p.stdout + p.stderr
    checks("every expression parses (promtool check rules)", promtool_syntax)


# ------------------------------------------------------------------ expansion

def regex_escape(v: str) -> str:
    # Grafana escapes regex metacharacters of Prometheus variable values with a
    # double backslash (one for the PromQL string, one for the regex).
    return "".join("\\\\" + ch if ch in REGEX_SPECIALS else ch for ch in v)


def format_value(var: dict, values) -> str:
    if values == "$__all":
        return var.get("allValue") or ".*"
    vals = values if isinstance(values, list) else [values]
    esc = [regex_escape(v) for v in vals]
    return esc[0] if len(esc) == 1 else "(" + "|".join(esc) + ")"


def expand(expr: str, selection: dict, variables: dict | None = None) -> str:
    variables = variables or {}

    def sub(m):
        name = next(g for g in m.groups() if g)
        if name in BUILTINS:
            return BUILTINS[name]
        if name in selection:
            return format_value(variables.get(name, {}), selection[name])
        if name in variables:
            return ".*"
        return m.group(0)  # like Grafana: not a variable (e.g. label_replace's $1)
    out = VAR_REF.sub(sub, expr)
    left = [m.group(0) for m in VAR_REF.finditer(out) if not m.group(0)[1:].isdigit()]
    assert not left, f"unexpanded variables {left} in {out}"
    return out


# ------------------------------------------------------------------ prometheus

class Prom:
    def __init__(self, binary, tmp: Path, target_port: int):
        self.port = free_port()
        cfg = tmp / "prometheus.yml"
        cfg.write_text(json.dumps({
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [{"job_name": "caretta", "metrics_path": "/metrics",
                                "static_configs": [{"targets": [f"127.0.0.1:{target_port}"]}]}]}))
        self.log = open(tmp / "prometheus.log", "w")
        self.proc = subprocess.Popen(
            [binary, f"--config.file={cfg}", f"--storage.tsdb.path={tmp / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent)
        self.base = f"http://127.0.0.1:{self.port}"
        self.logpath = tmp / "prometheus.log"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.log.close()

    def get(self, path, params=None, timeout=10):
        url = self.base + path + ("?" + urllib.parse.urlencode(params, doseq=True) if params else "")
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def api(self, path, params):
        status, body = self.get(path, params)
        try:
            js = json.loads(body)
        except ValueError:
            raise AssertionError(f"{path} HTTP {status}: {body[:300]}")
        if status != 200 or js.get("status") != "success":
            raise AssertionError(f"{path} {params.get('query', '')[:200]}... -> HTTP {status} "
                                 f"{js.get('errorType')}: {js.get('error')}")
        for w in js.get("warnings") or []:
            raise AssertionError(f"warning for {params.get('query')}: {w}")
        return js["data"]

    def instant(self, q):
        return self.api("/api/v1/query", {"query": q, "time": f"{time.time():.3f}"})["result"]

    def range(self, q, seconds=20, step=2):
        now = time.time()
        return self.api("/api/v1/query_range", {"query": q, "start": f"{now - seconds:.3f}",
                                                "end": f"{now:.3f}", "step": str(step)})["result"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def die_with_parent():
    try:  # PR_SET_PDEATHSIG: prometheus goes away even if this test is SIGKILLed
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)
    except OSError:
        pass
    os.setpgrp()


def wait_for(what, fn, until):
    last = None
    while time.monotonic() < until:
        try:
            if fn():
                return
        except (OSError, AssertionError) as e:
            last = e
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what} ({last})")


def grafana_line(sample) -> str:
    m = dict(sample["metric"])
    name = m.pop("__name__", "")
    labels = ", ".join(f'{k}="{v}"' for k, v in sorted(m.items()))
    return f"{name}{{{labels}}} {sample['value'][1]} {int(float(sample['value'][0]) * 1000)}"


def variable_values(prom: Prom, var: dict, selection: dict, variables: dict) -> list[str]:
    q = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
    q = expand(q, selection, variables)
    m = re.fullmatch(r"\s*query_result\((.*)\)\s*", q, re.S)
    if m:
        lines = [grafana_line(s) for s in prom.instant(m.group(1))]
    else:
        m = re.fullmatch(r"\s*label_values\((?:(.*),\s*)?(\w+)\)\s*", q, re.S)
        assert m, f"variable {var['name']}: unsupported query {q}"
        params = {"match[]": m.group(1)} if m.group(1) else {}
        params.update({"start": f"{time.time() - 300:.0f}", "end": f"{time.time():.0f}"})
        lines = prom.api(f"/api/v1/label/{m.group(2)}/values", params)
    rx = var.get("regex") or ""
    vals = []
    if rx:
        pattern = re.compile(rx[1:rx.rindex("/")] if rx.startswith("/") else rx)
        for ln in lines:
            mm = pattern.search(ln)
            if mm:
                vals.append(mm.group(1) if mm.groups() else mm.group(0))
    else:
        vals = list(lines)
    return sorted(set(vals))


def check_node_graph(prom: Prom, panel, selection, variables, want_nodes=None, want_edges=None):
    frames = {t["refId"]: prom.instant(expand(t["expr"], selection, variables)) for t in panel["targets"]}
    nodes, edges = frames["nodes"], frames["edges"]
    assert nodes, f"nodes frame empty for {selection}"
    assert edges, f"edges frame empty for {selection}"
    ids = {}
    for n in nodes:
        m = n["metric"]
        for f in ("id", "title", "subTitle", "detail__kind"):
            assert m.get(f), f"node without {f}: {m}"
        assert m["id"] not in ids, f"node id {m['id']} twice"
        ids[m["id"]] = (m["title"], m["subTitle"], m["detail__kind"])
        assert float(n["value"][1]) > 0
    eids = set()
    for e in edges:
        m = e["metric"]
        for f in ("id", "source", "target", "secondaryStat"):
            assert m.get(f), f"edge without {f}: {m}"
        assert m["source"] in ids and m["target"] in ids, f"edge {m} references an unknown node"
        assert m["id"] not in eids, f"edge id {m['id']} twice"
        eids.add(m["id"])
    if want_nodes is not None:
        got = {(t, ns, k) for t, ns, k in ids.values()}
        assert got == set(want_nodes), f"nodes {sorted(got)} != {sorted(want_nodes)}"
    if want_edges is not None:
        got = {(ids[e['metric']['source']][0], ids[e['metric']['target']][0], e['metric']['secondaryStat'])
               for e in edges}
        assert got == set(want_edges), f"edges {sorted(got)} != {sorted(want_edges)}"


def cmd_prometheus(checks):
    prom_bin = shutil.which("prometheus")
    if not prom_bin:
        H.skip("prometheus not installed (Debian package prometheus, installed by scripts/setup.sh)")
    d = load_dashboard()
    variables = {v["name"]: v for v in d["templating"]["list"]}
    exporter = FX.Exporter().start()
    prom = None
    tmp = tempfile.mkdtemp(prefix="caretta-dash-")
    try:
        promtool = shutil.which("promtool")
        if promtool:
            def fixture_valid():
                p = subprocess.run([promtool, "check", "metrics"], input=FX.metrics_text(1),
                                   capture_output=True, text=True, timeout=20)
                assert p.returncode == 0, p.stdout + p.stderr
            checks("fixture exposition passes promtool check metrics", fixture_valid)

        prom = Prom(prom_bin, Path(tmp), exporter.port)

        def ready():
            if prom.proc.poll() is not None:
                raise SystemExit(f"prometheus exited: {prom.logpath.read_text()[-2000:]}")
            return prom.get("/-/ready", timeout=2)[0] == 200
        wait_for("prometheus ready", ready, min(DEADLINE, time.monotonic() + 30))

        def scraped():
            r = prom.instant("min(count_over_time(caretta_links_observed[1m]))")
            return r and float(r[0]["value"][1]) >= 5
        wait_for("5 scrapes of the fixture", scraped, min(DEADLINE, time.monotonic() + 30))

        # variable values, resolved in dependency order like Grafana does
        def resolve(selection):
            out = {}
            for name in ("namespace", "kind", "workload", "port"):
                out[name] = variable_values(prom, variables[name], selection, variables)
            return out
        all_sel = {n: "$__all" for n in ("namespace", "kind", "workload", "port")}
        vals = {}

        def variables_resolve():
            vals.update(resolve(all_sel))
            assert {"shop", "kube-system", "external", "node"} <= set(vals["namespace"]), vals["namespace"]
            assert {"Deployment", "Service", "StatefulSet", "external", "node"} <= set(vals["kind"]), vals["kind"]
            assert {"checkout", "frontend", "productcatalog", "redis"} <= set(vals["workload"]), vals["workload"]
            assert {"3550", "5050", "53"} <= set(vals["port"]), vals["port"]
            narrowed = resolve({**all_sel, "namespace": ["shop"], "kind": ["Deployment"]})
            assert "node" not in narrowed["kind"] and "kube-dns" not in narrowed["workload"], narrowed
            assert set(narrowed["workload"]) == {"checkout", "frontend"}, narrowed["workload"]
        checks("variable queries return the fixture's values", variables_resolve)
        if not vals:
            return

        selections = {
            "all": all_sel,
            "namespace=shop": {**all_sel, "namespace": ["shop"]},
            "namespace=shop|kube-system": {**all_sel, "namespace": ["shop", "kube-system"]},
            "checkout/Deployment:3550": {"namespace": ["shop"], "kind": ["Deployment"],
                                         "workload": ["checkout"], "port": ["3550"]},
            "external": {**all_sel, "namespace": ["external"]},
        }
        for sname, sel in selections.items():
            def run_all(sname=sname, sel=sel):
                empty = []
                for panel, t in targets(d):
                    q = expand(t["expr"], sel, variables)
                    res = prom.instant(q) if t.get("instant") else prom.range(q)
                    if not res:
                        empty.append(f"{panel['title']}/{t['refId']}")
                if sname == "all":
                    assert not empty, f"no data with all values selected: {empty}"
            checks(f"every panel query runs ({sname})", run_all)

        ng = next(p for p in all_panels(d) if p["type"] == "nodeGraph")
        ent = lambda e: (e[0], e[1], e[2])  # noqa: E731
        checks("Service Map frames, all values", check_node_graph, prom, ng, all_sel, variables,
               {ent(e) for c, s, *_ in FX.LINKS for e in (c, s)},
               {(c[0], s[0], str(port)) for c, s, port, *_ in FX.LINKS})
        for sname, sel in selections.items():
            if sname == "all":
                continue
            want_n = want_e = None
            if sname == "checkout/Deployment:3550":
                want_n = {ent(FX.CHECKOUT), ent(FX.CATALOG)}
                want_e = {("checkout", "productcatalog", "3550")}
            checks(f"Service Map frames ({sname})", check_node_graph, prom, ng, sel, variables, want_n, want_e)
        if time.monotonic() > DEADLINE:
            raise AssertionError("test exceeded its time budget")
    finally:
        if prom:
            prom.stop()
        exporter.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    def on_signal(sig, _):
        raise SystemExit(f"killed by signal {sig}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    which = sys.argv[1:] or ["lint", "prometheus"]
    checks = H.Checks()
    for w in which:
        {"lint": cmd_lint, "prometheus": cmd_prometheus}[w](checks)
    checks.finish()


if __name__ == "__main__":
    main()
