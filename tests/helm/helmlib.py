"""Shared helpers for the helm tests: locate tools, stub the chart's dependencies
in a temporary copy of the chart, render it with the real helm, parse manifests.

Exit code 77 means SKIP (ctest SKIP_RETURN_CODE) and is only used when a
precondition outside this repository is missing; the reason is printed.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SKIP = 77
REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "caretta"
DASHBOARD = REPO / "deploy" / "grafana" / "dashboard.json"
WATCHED = REPO / "src" / "k8s" / "watched_resources.json"


def skip(reason: str) -> None:
    print(f"SKIP: {reason}")
    sys.exit(SKIP)


def need_yaml():
    """PyYAML; re-exec with the system python3 (Debian python3-yaml) if this one lacks it."""
    try:
        import yaml  # noqa: F401
        return yaml
    except ImportError:
        sysPy = "/usr/bin/python3"
        if os.path.realpath(sys.executable) != os.path.realpath(sysPy) and os.path.exists(sysPy) \
                and not os.environ.get("CARETTA_HELM_REEXEC"):
            os.environ["CARETTA_HELM_REEXEC"] = "1"
            os.execv(sysPy, [sysPy] + sys.argv)
        skip("python3 module yaml (Debian package python3-yaml) is not installed")


def helm_bin() -> str:
    for cand in (os.environ.get("HELM"), str(REPO / ".tools" / "bin" / "helm"), shutil.which("helm")):
        if cand and os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    skip("helm not found: run scripts/setup.d/10-k8s-tools.sh (installs .tools/bin/helm)")
    return ""  # unreachable


def run(cmd, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=kw.pop("timeout", 60), **kw)


STUB_TEMPLATE = """\
{{- /* Test stub standing in for the real subchart: exposes the values the parent
chart passes down so the tests can check them. */ -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: stub-{{ .Chart.Name }}-values
  namespace: {{ .Release.Namespace }}
data:
  values.json: {{ toJson .Values | quote }}
"""


def stubbed_chart(tmp: Path) -> Path:
    """Copy the chart to tmp and add one stub subchart per dependency of Chart.yaml,
    with the name and version Chart.yaml asks for. Returns the copy's path."""
    yaml = need_yaml()
    dst = tmp / "caretta"
    shutil.copytree(CHART, dst, symlinks=False)
    shutil.rmtree(dst / "charts", ignore_errors=True)
    (dst / "Chart.lock").unlink(missing_ok=True)
    meta = yaml.safe_load((CHART / "Chart.yaml").read_text())
    deps = meta.get("dependencies") or []
    for dep in deps:
        sub = dst / "charts" / dep["name"]
        (sub / "templates").mkdir(parents=True)
        (sub / "Chart.yaml").write_text(
            f"apiVersion: v2\nname: {dep['name']}\nversion: {dep['version']}\n"
            f"description: test stub\ntype: application\n")
        (sub / "templates" / "values.yaml").write_text(STUB_TEMPLATE)
    return dst


def render(chart: Path, values: dict | None = None, sets: list[str] | None = None,
           release: str = "caretta", namespace: str = "caretta", expect_ok: bool = True):
    """helm template; returns (list of manifests, raw stdout, stderr)."""
    yaml = need_yaml()
    cmd = [helm_bin(), "template", release, str(chart), "--namespace", namespace]
    tmpvals = None
    if values:
        fd, tmpvals = tempfile.mkstemp(suffix=".yaml")
        with os.fdopen(fd, "w") as f:
            yaml.safe_dump(values, f)
        cmd += ["-f", tmpvals]
    for s in sets or []:
        cmd += ["--set", s]
    try:
        p = run(cmd)
    finally:
        if tmpvals:
            os.unlink(tmpvals)
    if expect_ok and p.returncode != 0:
        raise AssertionError(f"helm template failed ({' '.join(cmd)}):\n{p.stderr}")
    docs = [d for d in yaml.safe_load_all(p.stdout) if d] if p.returncode == 0 else []
    return docs, p, cmd


def render_notes(chart: Path, sets=None, release: str = "caretta") -> str:
    """NOTES.txt as helm would print it after install (helm install --dry-run)."""
    cmd = [helm_bin(), "install", release, str(chart), "--namespace", "caretta", "--dry-run=client"]
    for s in sets or []:
        cmd += ["--set", s]
    p = run(cmd)
    if p.returncode != 0:
        raise AssertionError(f"helm install --dry-run failed:\n{p.stderr}")
    out = p.stdout
    return out[out.index("NOTES:"):] if "NOTES:" in out else ""


def find(docs, kind, name=None):
    return [d for d in docs if d.get("kind") == kind and (name is None or d["metadata"]["name"] == name)]


def one(docs, kind, name=None):
    found = find(docs, kind, name)
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def agent_container(docs):
    ds = one(docs, "DaemonSet")
    containers = ds["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, "the agent DaemonSet has exactly one container"
    return ds, containers[0]


def stub_values(docs, chart_name):
    cms = find(docs, "ConfigMap", f"stub-{chart_name}-values")
    return json.loads(cms[0]["data"]["values.json"]) if cms else None


class Checks:
    """Collects named checks; prints each and exits non-zero if any failed."""

    def __init__(self):
        self.failed = 0
        self.count = 0

    def __call__(self, name, fn, *a, **kw):
        self.count += 1
        try:
            fn(*a, **kw)
            print(f"ok   {name}")
        except AssertionError as e:
            self.failed += 1
            print(f"FAIL {name}: {e}")
        except Exception as e:  # a crash in a check is a failure, with its type
            self.failed += 1
            print(f"FAIL {name}: {type(e).__name__}: {e}")

    def finish(self):
        print(f"{self.count - self.failed}/{self.count} checks passed")
        sys.exit(1 if self.failed else 0)
