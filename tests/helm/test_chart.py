#!/usr/bin/env python3
"""Helm chart tests with the real helm binary.

  test_chart.py lint       helm lint --strict, default values and every documented toggle
  test_chart.py template   helm template per toggle, with assertions on the manifests
  test_chart.py rbac       rendered ClusterRole == src/k8s/watched_resources.json, get/list/watch only
  test_chart.py files      the chart's copies of dashboard.json / watched_resources.json are identical

The chart's dependencies (victoria-metrics-single, grafana) are replaced, in a
temporary copy of the chart, by stub subcharts that render the values they get.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import helmlib as H  # noqa: E402

CONTRACT_ENV = {"PROMETHEUS_PORT", "PROMETHEUS_ENDPOINT", "POLL_INTERVAL", "RESOLVE_DNS",
                "TRAVERSE_UP_HIERARCHY", "KUBECONFIG", "MAX_CONNECTIONS", "MAX_LINKS",
                "HOST_PROC", "HOST_CGROUP", "CONNTRACK_NETNS", "NODE_NAME", "LOG_LEVEL"}
LEAST_CAPS = ["BPF", "PERFMON"]

# The original Caretta chart's values as a user would have overridden them.
ORIGINAL_USER_VALUES = {
    "enableDnsResolving": True, "prometheusPort": 7117, "prometheusEndpoint": "/metrics",
    "pollIntervalSeconds": 15,
    "rbac": {"pspEnabled": True, "sccEnabled": False},
    "image": {"repository": "quay.io/example/caretta", "pullPolicy": "Always", "tag": "v1"},
    "imagePullSecrets": [], "nameOverride": "", "fullnameOverride": "",
    "resources": {"limits": {"memory": "1Gi"}},
    "serviceAccount": {"create": True, "annotations": {"a": "b"}, "name": ""},
    "podAnnotations": {"example.com/x": "on", "example.com/n": 1}, "podSecurityContext": {},
    "securityContext": {"privileged": True, "readOnlyRootFilesystem": True},
    "tolerations": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists",
                     "effect": "NoSchedule"}],
    "nodeSelector": {"kubernetes.io/os": "linux"}, "affinity": {}, "priorityClassName": "high",
    "victoria-metrics-single": {"server": {"persistentVolume": {"enabled": True, "size": "8Gi"}}},
}

# name -> (--set list, values dict)
SCENARIOS = {
    "default": ([], None),
    "subcharts-off": (["victoria-metrics-single.enabled=false", "grafana.enabled=false"], None),
    "persistent-volume": (["victoria-metrics-single.server.persistentVolume.enabled=true"], None),
    "privileged": (["privileged=true"], None),
    "sys-admin": (["capabilities.sysAdmin=true"], None),
    "nat-undo": (["serviceNatUndo=true"], None),
    "network-policy": (["networkPolicy.enabled=true", "prometheusPort=9100"], None),
    "monitors": (["podMonitor.enabled=true", "serviceMonitor.enabled=true"], None),
    "host-paths": (["hostPaths.proc=/hostfs/proc", "hostPaths.btf=", "hostPaths.cgroup="], None),
    "host-namespaces": (["hostPID=true", "hostNetwork=true"], None),
    "agent-settings": (["pollIntervalSeconds=15", "prometheusPort=9100", "prometheusEndpoint=/m",
                        "enableDnsResolving=false", "traverseUpHierarchy=false",
                        "maxConnections=1000000", "maxLinks=500", "logLevel=debug"], None),
    "openshift": (["rbac.sccEnabled=true"], None),
    "external-serviceaccount": (["serviceAccount.create=false", "serviceAccount.name=mine",
                                 "rbac.create=false"], None),
    "original-chart-values": ([], ORIGINAL_USER_VALUES),
}

NAMESPACED = {"ServiceAccount", "ConfigMap", "DaemonSet", "Service", "PodMonitor", "ServiceMonitor",
              "RoleBinding", "Role"}


# ---------------------------------------------------------------- generic checks

def check_common(docs):
    kinds = [d["kind"] for d in docs]
    assert "PodSecurityPolicy" not in kinds, "a PodSecurityPolicy was rendered"
    for d in docs:
        assert d.get("apiVersion") and d.get("kind") and d["metadata"].get("name"), f"incomplete object {d}"
        assert "v1beta1" not in d["apiVersion"], f"{d['kind']} uses deprecated {d['apiVersion']}"
        if d["kind"] in NAMESPACED and not d["metadata"]["name"].startswith("stub-"):
            assert d["metadata"].get("namespace"), f"{d['kind']}/{d['metadata']['name']} has no namespace"
    ds, c = H.agent_container(docs)
    pod = ds["spec"]["template"]["spec"]
    for v in pod.get("volumes", []):
        hp = (v.get("hostPath") or {}).get("path", "")
        assert not re.match(r"^/sys/kernel/(debug|tracing)", hp), f"debugfs/tracefs mounted: {hp}"
    env_names = {e["name"] for e in c.get("env", [])}
    unknown = env_names - CONTRACT_ENV
    assert not unknown, f"env vars not in docs/CONTRACTS.md: {sorted(unknown)}"
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert str(ports["prom-metrics"]) == env["PROMETHEUS_PORT"], "containerPort != PROMETHEUS_PORT"
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        g = c[probe]["httpGet"]
        assert g["path"] == path and g["port"] in ports, f"{probe} {g}"
    ann = ds["spec"]["template"]["metadata"]["annotations"]
    assert ann["caretta.io/scrape"] == "true" and ann["caretta.io/path"] == env["PROMETHEUS_ENDPOINT"]
    sel = ds["spec"]["selector"]["matchLabels"]
    labels = ds["spec"]["template"]["metadata"]["labels"]
    assert all(labels.get(k) == v for k, v in sel.items()), "selector does not match pod labels"
    sa = pod["serviceAccountName"]
    # host paths mounted read-only
    mounts = {m["name"]: m for m in c.get("volumeMounts", [])}
    for v in pod.get("volumes", []):
        if "hostPath" in v:
            assert mounts[v["name"]].get("readOnly") is True, f"hostPath {v['name']} is writable"
    return ds, c, pod, env, sa


def relabel(rules, labels):
    """Prometheus relabeling (keep/drop/replace/labelmap), enough for our scrape config."""
    labels = dict(labels)
    for r in rules:
        action = r.get("action", "replace")
        regex = re.compile("^(?:" + str(r.get("regex", "(.*)")) + ")$")
        src = r.get("separator", ";").join(labels.get(s, "") for s in r.get("source_labels", []))
        m = regex.match(src)
        if action == "keep":
            if not m:
                return None
        elif action == "drop":
            if m:
                return None
        elif action == "replace":
            if m:
                val = m.expand(str(r.get("replacement", "$1")).replace("$", "\\"))
                if val:
                    labels[r["target_label"]] = val
                else:
                    labels.pop(r["target_label"], None)
        elif action == "labelmap":
            for k, v in list(labels.items()):
                mm = regex.match(k)
                if mm:
                    labels[mm.expand(str(r.get("replacement", "$1")).replace("$", "\\"))] = v
        else:
            raise AssertionError(f"relabel action {action} not simulated")
    return labels


def pod_targets(ds, c, namespace):
    """The pod-discovery meta labels Prometheus/VictoriaMetrics would see per container port."""
    meta = ds["spec"]["template"]["metadata"]
    out = []
    for p in c["ports"]:
        lb = {"__address__": f"10.0.0.7:{p['containerPort']}", "__metrics_path__": "/metrics",
              "__meta_kubernetes_namespace": namespace, "__meta_kubernetes_pod_name": "caretta-abcde",
              "__meta_kubernetes_pod_node_name": "node-a",
              "__meta_kubernetes_pod_container_port_name": p["name"],
              "__meta_kubernetes_pod_container_port_number": str(p["containerPort"])}
        for k, v in (meta.get("annotations") or {}).items():
            lb["__meta_kubernetes_pod_annotation_" + re.sub(r"[^a-zA-Z0-9_]", "_", k)] = str(v)
        for k, v in (meta.get("labels") or {}).items():
            lb["__meta_kubernetes_pod_label_" + re.sub(r"[^a-zA-Z0-9_]", "_", k)] = str(v)
        out.append(lb)
    return out


def check_vm_scrape(docs, ds, c, env):
    vm = H.stub_values(docs, "victoria-metrics-single")
    assert vm is not None, "victoria-metrics-single stub not rendered"
    scrape = vm["server"]["scrape"]
    assert scrape["enabled"] is True
    jobs = scrape["config"]["scrape_configs"]
    job = next(j for j in jobs if j["job_name"] == "caretta")
    sd = job["kubernetes_sd_configs"][0]
    assert sd["role"] == "pod" and sd["namespaces"]["own_namespace"] is True
    kept = [relabel(job["relabel_configs"], t) for t in pod_targets(ds, c, "caretta")]
    kept = [k for k in kept if k]
    assert len(kept) == 1, f"scrape config keeps {len(kept)} targets per agent pod, want 1"
    t = kept[0]
    assert t["__metrics_path__"] == env["PROMETHEUS_ENDPOINT"], t
    assert t["__address__"].endswith(":" + env["PROMETHEUS_PORT"]), t
    assert t.get("caretta_node") == "node-a"
    # The config is also valid for a real Prometheus (VictoriaMetrics reads the same format).
    promtool = shutil.which("promtool")
    if promtool:
        with tempfile.TemporaryDirectory() as d:
            f = Path(d) / "prom.yml"
            cfg = json.loads(json.dumps(scrape["config"]))
            p = subprocess.run([promtool, "--version"], capture_output=True, text=True, timeout=30)
            # Debian's prometheus is built without Kubernetes discovery; check the rest
            # of the job there with the discovery swapped for a static target.
            for j in cfg["scrape_configs"]:
                if "+ds" in (p.stdout + p.stderr) and "kubernetes_sd_configs" in j:
                    del j["kubernetes_sd_configs"]
                    j["static_configs"] = [{"targets": ["127.0.0.1:1"]}]
            f.write_text(json.dumps(cfg))
            p = subprocess.run([promtool, "check", "config", "--syntax-only", str(f)],
                               capture_output=True, text=True, timeout=30)
            assert p.returncode == 0, f"promtool check config: {p.stdout}{p.stderr}"
    return vm


def check_grafana(docs, vm):
    g = H.stub_values(docs, "grafana")
    assert g is not None, "grafana stub not rendered"
    assert g["adminUser"] == "admin" and g["adminPassword"] == "caretta"
    ini = g["grafana.ini"]
    assert ini["auth.anonymous"]["enabled"] is True
    dss = g["datasources"]["datasources.yaml"]["datasources"]
    assert len(dss) == 1 and dss[0]["type"] == "prometheus"
    vm_name = vm["server"]["fullnameOverride"]
    assert dss[0]["url"] == f"http://{vm_name}:8428", f"datasource url {dss[0]['url']} != VM service {vm_name}"
    prov = {p["name"]: p for p in g["dashboardProviders"]["dashboardproviders.yaml"]["providers"]}
    (pname, cm_name), = g["dashboardsConfigMaps"].items()
    cm = H.one(docs, "ConfigMap", cm_name)
    assert "dashboard.json" in cm["data"]
    home = ini["dashboards"]["default_home_dashboard_path"]
    assert home == prov[pname]["options"]["path"].rstrip("/") + "/dashboard.json", \
        f"home dashboard {home} is not where provider {pname} mounts {cm_name}"
    assert cm["data"]["dashboard.json"] == H.DASHBOARD.read_text().rstrip("\n"), \
        "dashboard ConfigMap content differs from deploy/grafana/dashboard.json"
    assert cm["metadata"]["labels"].get("grafana_dashboard") == "1", "sidecar label missing"


# ---------------------------------------------------------------- scenarios

def t_default(docs, p):
    ds, c, pod, env, sa = check_common(docs)
    sc = c["securityContext"]
    assert sc.get("privileged") is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert sc["capabilities"]["add"] == LEAST_CAPS, sc["capabilities"]["add"]
    assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
    # hostPID: the agent walks processes' sockets (no per-connection storage).
    assert pod["hostNetwork"] is False and pod["hostPID"] is True
    assert env["HOST_PROC"] == "/host/proc"
    # The cgroup mount is read where it is mounted; NAT undo (setns) is off without SYS_ADMIN.
    assert env["HOST_CGROUP"] == "/host/sys/fs/cgroup"
    assert env["CONNTRACK_NETNS"] == "off"
    assert not H.find(docs, "NetworkPolicy")
    vols = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert vols["host-proc"]["hostPath"]["path"] == "/proc" and mounts["host-proc"] == "/host/proc"
    assert vols["btf"]["hostPath"]["path"] == "/sys/kernel/btf" and mounts["btf"] == "/sys/kernel/btf"
    assert vols["host-cgroup"]["hostPath"]["path"] == "/sys/fs/cgroup"
    assert c["resources"]["limits"]["memory"], "no memory limit"
    assert any(t["key"] == "node-role.kubernetes.io/control-plane" for t in pod["tolerations"])
    assert env["POLL_INTERVAL"] == "5" and env["PROMETHEUS_PORT"] == "7117"
    assert env["PROMETHEUS_ENDPOINT"] == "/metrics" and env["RESOLVE_DNS"] == "true"
    assert env["TRAVERSE_UP_HIERARCHY"] == "true"
    nn = next(e for e in c["env"] if e["name"] == "NODE_NAME")
    assert nn["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    assert H.one(docs, "ServiceAccount")["metadata"]["name"] == sa
    crb = H.one(docs, "ClusterRoleBinding")
    assert crb["subjects"][0]["name"] == sa and crb["roleRef"]["name"] == H.one(docs, "ClusterRole")["metadata"]["name"]
    assert not H.find(docs, "PodMonitor") and not H.find(docs, "ServiceMonitor") and not H.find(docs, "Service")
    vm = check_vm_scrape(docs, ds, c, env)
    assert vm["server"]["persistentVolume"]["enabled"] is False
    check_grafana(docs, vm)


def t_subcharts_off(docs, p):
    check_common(docs)
    assert H.stub_values(docs, "victoria-metrics-single") is None
    assert H.stub_values(docs, "grafana") is None
    assert H.find(docs, "ConfigMap", "caretta-grafana-dashboards"), "dashboard ConfigMap should stay for external Grafana"


def t_persistent_volume(docs, p):
    check_common(docs)
    vm = H.stub_values(docs, "victoria-metrics-single")
    assert vm["server"]["persistentVolume"]["enabled"] is True


def t_privileged(docs, p):
    _, c, pod, _, _ = check_common(docs)
    sc = c["securityContext"]
    assert sc["privileged"] is True and "capabilities" not in sc and "allowPrivilegeEscalation" not in sc
    assert sc["readOnlyRootFilesystem"] is True


def t_sys_admin(docs, p):
    _, c, _, env, _ = check_common(docs)
    sc = c["securityContext"]
    assert sc["capabilities"]["add"] == LEAST_CAPS + ["SYS_ADMIN"]
    assert "allowPrivilegeEscalation" not in sc, "rejected by Kubernetes together with SYS_ADMIN"
    assert env["CONNTRACK_NETNS"] == "auto"


def t_nat_undo(docs, p):
    _, c, _, env, _ = check_common(docs)
    sc = c["securityContext"]
    assert sc["capabilities"]["add"] == LEAST_CAPS + ["SYS_ADMIN"], "NAT undo needs setns"
    assert env["CONNTRACK_NETNS"] == "auto"


def t_network_policy(docs, p):
    ds, _, _, _, _ = check_common(docs)
    np = H.one(docs, "NetworkPolicy")
    assert np["spec"]["podSelector"]["matchLabels"] == ds["spec"]["selector"]["matchLabels"]
    assert np["spec"]["policyTypes"] == ["Ingress"]
    rule = np["spec"]["ingress"][0]
    assert rule["ports"] == [{"port": 9100, "protocol": "TCP"}]
    assert rule["from"] == [{"podSelector": {}}]


def t_monitors(docs, p):
    ds, c, _, env, _ = check_common(docs)
    sel = ds["spec"]["selector"]["matchLabels"]
    pm = H.one(docs, "PodMonitor")
    ep = pm["spec"]["podMetricsEndpoints"][0]
    assert ep["port"] == "prom-metrics" and ep["path"] == env["PROMETHEUS_ENDPOINT"]
    assert pm["spec"]["selector"]["matchLabels"] == sel
    assert pm["spec"]["namespaceSelector"]["matchNames"] == ["caretta"]
    sm = H.one(docs, "ServiceMonitor")
    svc = H.one(docs, "Service")
    assert svc["spec"]["selector"] == sel and svc["spec"]["clusterIP"] == "None"
    assert svc["spec"]["ports"][0]["targetPort"] == "prom-metrics" and svc["spec"]["ports"][0]["name"] == "prom-metrics"
    assert sm["spec"]["endpoints"][0]["port"] == "prom-metrics"
    assert sm["spec"]["endpoints"][0]["path"] == env["PROMETHEUS_ENDPOINT"]
    svc_labels = svc["metadata"]["labels"]
    assert all(svc_labels.get(k) == v for k, v in sm["spec"]["selector"]["matchLabels"].items())


def t_host_paths(docs, p):
    _, c, pod, env, _ = check_common(docs)
    vols = {v["name"]: v for v in pod["volumes"]}
    assert vols["host-proc"]["hostPath"]["path"] == "/hostfs/proc" and env["HOST_PROC"] == "/host/proc"
    assert "btf" not in vols and "host-cgroup" not in vols
    assert {m["name"] for m in c["volumeMounts"]} == {"host-proc", "tmp"}
    assert "HOST_CGROUP" not in env, "no cgroup mount, no path to read"


def t_host_namespaces(docs, p):
    _, _, pod, _, _ = check_common(docs)
    assert pod["hostPID"] is True and pod["hostNetwork"] is True
    assert pod["dnsPolicy"] == "ClusterFirstWithHostNet"


def t_agent_settings(docs, p):
    ds, c, _, env, _ = check_common(docs)
    want = {"POLL_INTERVAL": "15", "PROMETHEUS_PORT": "9100", "PROMETHEUS_ENDPOINT": "/m",
            "RESOLVE_DNS": "false", "TRAVERSE_UP_HIERARCHY": "false", "MAX_CONNECTIONS": "1000000",
            "MAX_LINKS": "500", "LOG_LEVEL": "debug"}
    for k, v in want.items():
        assert env[k] == v, f"{k}={env[k]!r}, want {v!r}"
    check_vm_scrape(docs, ds, c, env)


def t_openshift(docs, p):
    check_common(docs)
    crs = {d["metadata"]["name"]: d for d in H.find(docs, "ClusterRole")}
    assert set(crs) == {"caretta", "caretta-scc"}
    assert crs["caretta-scc"]["rules"][0]["resourceNames"] == ["privileged"]
    rb = H.one(docs, "RoleBinding")
    assert rb["roleRef"]["name"] == "caretta-scc"


def t_external_sa(docs, p):
    _, _, _, _, sa = check_common(docs)
    assert sa == "mine"
    assert not H.find(docs, "ServiceAccount") and not H.find(docs, "ClusterRole")


def t_original(docs, p):
    ds, c, pod, env, _ = check_common(docs)
    assert c["securityContext"]["privileged"] is True, "securityContext.privileged=true must still work"
    assert env["POLL_INTERVAL"] == "15"
    assert c["image"] == "quay.io/example/caretta:v1" and c["imagePullPolicy"] == "Always"
    assert c["resources"]["limits"]["memory"] == "1Gi"
    assert pod["priorityClassName"] == "high" and pod["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert ds["spec"]["template"]["metadata"]["annotations"]["example.com/x"] == "on"
    assert ds["spec"]["template"]["metadata"]["annotations"]["example.com/n"] == "1"
    assert ds["spec"]["template"]["metadata"]["labels"]["app"] == "caretta"
    assert H.one(docs, "ServiceAccount")["metadata"]["annotations"] == {"a": "b"}
    vm = H.stub_values(docs, "victoria-metrics-single")
    assert vm["server"]["persistentVolume"] == {"enabled": True, "size": "8Gi"}


CHECKS = {"default": t_default, "subcharts-off": t_subcharts_off, "persistent-volume": t_persistent_volume,
          "privileged": t_privileged, "sys-admin": t_sys_admin, "monitors": t_monitors,
          "nat-undo": t_nat_undo, "network-policy": t_network_policy,
          "host-paths": t_host_paths, "host-namespaces": t_host_namespaces,
          "agent-settings": t_agent_settings, "openshift": t_openshift,
          "external-serviceaccount": t_external_sa, "original-chart-values": t_original}


# ---------------------------------------------------------------- commands

def cmd_lint(chart, checks):
    helm = H.helm_bin()
    for name, (sets, values) in SCENARIOS.items():
        def lint(sets=sets, values=values):
            cmd = [helm, "lint", "--strict", str(chart), "--namespace", "caretta"]
            for s in sets:
                cmd += ["--set", s]
            tmp = None
            if values:
                yaml = H.need_yaml()
                tmp = chart.parent / f"values-{name}.yaml"
                tmp.write_text(yaml.safe_dump(values))
                cmd += ["-f", str(tmp)]
            p = H.run(cmd)
            out = p.stdout + p.stderr
            assert p.returncode == 0, out
            bad = [ln for ln in out.splitlines() if re.search(r"\[(WARNING|ERROR|INFO)\]", ln)]
            assert not bad, "lint is not clean:\n" + "\n".join(bad)
        checks(f"lint {name}", lint)

    def lint_without_deps():
        # Without `helm dependency build` helm must say what is missing (the user's step).
        p = H.run([helm, "template", "x", str(H.CHART)])
        if not (H.CHART / "charts").exists():
            assert p.returncode != 0 and "dependenc" in (p.stderr + p.stdout).lower(), p.stderr
    checks("unbuilt dependencies are reported", lint_without_deps)


def cmd_template(chart, checks):
    for name, (sets, values) in SCENARIOS.items():
        def t(name=name, sets=sets, values=values):
            docs, p, _ = H.render(chart, values=values, sets=sets)
            CHECKS[name](docs, p)
        checks(f"template {name}", t)

    def bad_values():
        for s in ("pollIntervalSeconds=abc", "prometheusPort=70000", "pollIntervalSeconds=0",
                  "prometheusEndpoint=metrics", "logLevel=loud"):
            _, p, _ = H.render(chart, sets=[s], expect_ok=False)
            assert p.returncode != 0, f"--set {s} was accepted"
    checks("invalid values are rejected by values.schema.json", bad_values)

    def notes():
        txt = H.render_notes(chart)
        assert "port-forward" in txt and "3000" in txt and "svc/caretta-grafana" in txt, txt
        assert "anonymous" in txt.lower() and '"admin"' in txt, txt
        off = H.render_notes(chart, sets=["grafana.enabled=false"])
        assert "svc/caretta-grafana" not in off and "caretta-grafana-dashboards" in off, off
    checks("NOTES.txt tells how to reach Grafana", notes)

    def release_names():
        docs, _, _ = H.render(chart, release="prod")
        ds = H.one(docs, "DaemonSet")
        assert ds["metadata"]["name"] == "prod-caretta"
        assert "svc/prod-grafana " in H.render_notes(chart, release="prod")
        docs, _, _ = H.render(chart, release="my-caretta")
        assert H.one(docs, "DaemonSet")["metadata"]["name"] == "my-caretta"
        assert "svc/my-caretta-grafana " in H.render_notes(chart, release="my-caretta")
    checks("release name other than caretta", release_names)


def cmd_rbac(chart, checks):
    def rbac():
        watched = json.loads(H.WATCHED.read_text())
        assert isinstance(watched, list) and watched, "watched_resources.json must be a non-empty list"
        for w in watched:
            assert set(w) == {"group", "version", "resource"}, f"bad entry {w}"
        want = {(w["group"], w["resource"]) for w in watched}
        assert len(want) == len(watched), "duplicate entries in watched_resources.json"
        docs, _, _ = H.render(chart)
        cr = H.one(docs, "ClusterRole")
        got = set()
        for rule in cr["rules"]:
            assert sorted(rule["verbs"]) == ["get", "list", "watch"], f"verbs {rule['verbs']}"
            assert set(rule) == {"apiGroups", "resources", "verbs"}, f"unexpected rule fields {sorted(rule)}"
            for g in rule["apiGroups"]:
                for r in rule["resources"]:
                    assert (g, r) not in got, f"{g}/{r} granted twice"
                    got.add((g, r))
        assert got == want, f"ClusterRole grants {sorted(got - want)} extra, misses {sorted(want - got)}"
        assert not H.find(docs, "Role"), "no namespaced Role expected"
    checks("ClusterRole == src/k8s/watched_resources.json (get/list/watch)", rbac)

    def rbac_every_toggle():
        for name, (sets, values) in SCENARIOS.items():
            docs, _, _ = H.render(chart, values=values, sets=sets)
            for cr in H.find(docs, "ClusterRole"):
                for rule in cr["rules"]:
                    if cr["metadata"]["name"].endswith("-scc"):
                        continue
                    assert sorted(rule["verbs"]) == ["get", "list", "watch"], f"{name}: {rule}"
    checks("no toggle widens the agent's ClusterRole", rbac_every_toggle)


def cmd_files(chart, checks):
    def same(a: Path, b: Path):
        assert a.exists(), f"{a} missing"
        assert b.exists(), f"{b} missing"
        assert a.read_bytes() == b.read_bytes(), f"{b} differs from {a}: copy it (cp {a} {b})"
    checks("chart files/dashboard.json == deploy/grafana/dashboard.json",
           same, H.DASHBOARD, H.CHART / "files" / "dashboard.json")
    checks("chart files/watched_resources.json == src/k8s/watched_resources.json",
           same, H.WATCHED, H.CHART / "files" / "watched_resources.json")

    def no_psp_anywhere():
        for f in H.CHART.rglob("*"):
            if f.is_file() and f.suffix in (".yaml", ".tpl", ".txt"):
                txt = f.read_text()
                assert "PodSecurityPolicy" not in txt or f.name == "values.yaml", f"{f} mentions PodSecurityPolicy"
                assert "/sys/kernel/debug" not in txt, f"{f} mounts debugfs"
    checks("no PodSecurityPolicy or debugfs in the chart", no_psp_anywhere)


def main():
    cmds = {"lint": cmd_lint, "template": cmd_template, "rbac": cmd_rbac, "files": cmd_files}
    which = sys.argv[1:] or list(cmds)
    for w in which:
        if w not in cmds:
            print(f"usage: {sys.argv[0]} [{'|'.join(cmds)}]...")
            sys.exit(2)
    H.need_yaml()
    checks = H.Checks()
    with tempfile.TemporaryDirectory(prefix="caretta-helm-") as tmp:
        chart = None
        if any(w != "files" for w in which):
            H.helm_bin()
            chart = H.stubbed_chart(Path(tmp))
        for w in which:
            cmds[w](chart, checks)
    checks.finish()


if __name__ == "__main__":
    main()
