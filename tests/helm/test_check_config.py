#!/usr/bin/env python3
"""The rendered DaemonSet's env vars and args are accepted by the built agent.

For several value sets, render the chart, take the agent container's env and
args exactly as the kubelet would pass them (fieldRef -> a node name; container
paths that sit on a hostPath mount -> the host path, since this host plays the
node) and run `<caretta> --check-config`. It must exit 0 and print `key=value`
lines whose values are what the chart asked for; the probes' port must be the
port the agent reports. A bad boolean must exit 2 naming the variable.

Usage: test_check_config.py <path to the built caretta binary>
SKIP (77) if the binary has not been built yet.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import helmlib as H  # noqa: E402

SCENARIOS = {
    "default": [],
    "agent-settings": ["pollIntervalSeconds=15", "prometheusPort=9100", "prometheusEndpoint=/m",
                       "enableDnsResolving=false", "traverseUpHierarchy=false",
                       "maxConnections=1000000", "maxLinks=500", "logLevel=debug"],
    "extra-args": ["extraArgs[0]=--log-level=warn"],
    "privileged-host-namespaces": ["privileged=true", "hostPID=true", "hostNetwork=true",
                                   "hostPaths.proc="],
}
TRUE = {"true", "1", "yes", "on"}
FALSE = {"false", "0", "no", "off"}


def norm_key(k: str) -> str:
    return k.strip().lstrip("-").lower().replace("-", "_").replace(".", "_")


def norm_val(v: str) -> str:
    v = v.strip().strip('"')
    if v.lower() in TRUE:
        return "true"
    if v.lower() in FALSE:
        return "false"
    return v


def kubelet_env(container: dict, pod: dict) -> dict:
    """env as the container would see it, container paths mapped to this host."""
    mounts = {m["name"]: m["mountPath"] for m in container.get("volumeMounts", [])}
    host = {mounts[v["name"]]: v["hostPath"]["path"] for v in pod.get("volumes", [])
            if "hostPath" in v and v["name"] in mounts}
    env = {}
    for e in container.get("env", []):
        if "value" in e:
            val = str(e["value"])
        else:
            ref = e["valueFrom"]["fieldRef"]["fieldPath"]
            assert ref == "spec.nodeName", f"unexpected fieldRef {ref}"
            val = "test-node-1"
        for mpath, hpath in sorted(host.items(), key=lambda kv: -len(kv[0])):
            if val == mpath or val.startswith(mpath.rstrip("/") + "/"):
                val = hpath + val[len(mpath):]
                break
        env[e["name"]] = val
    return env


def run_agent(binary: str, env: dict, args: list[str]) -> subprocess.CompletedProcess:
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/root")}
    with tempfile.TemporaryDirectory() as home:
        base["HOME"] = home  # no ~/.kube/config of the developer leaks in
        return subprocess.run([binary, *args, "--check-config"], env={**base, **env},
                              capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)


def parse_effective(out: str) -> dict:
    eff = {}
    for line in out.splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            eff[norm_key(k)] = v
    return eff


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    binary = sys.argv[1]
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        H.skip(f"agent binary {binary} is not built yet (cmake --build <build> --target caretta)")
    H.need_yaml()
    checks = H.Checks()
    with tempfile.TemporaryDirectory(prefix="caretta-helm-") as tmp:
        chart = H.stubbed_chart(Path(tmp))
        for name, sets in SCENARIOS.items():
            def scenario(sets=sets):
                docs, _, _ = H.render(chart, sets=sets)
                ds, c = H.agent_container(docs)
                pod = ds["spec"]["template"]["spec"]
                env = kubelet_env(c, pod)
                args = [str(a) for a in (c.get("command", [])[1:] + c.get("args", []))]
                p = run_agent(binary, env, args)
                assert p.returncode == 0, (f"exit {p.returncode} for env {env} args {args}\n"
                                           f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}")
                eff = parse_effective(p.stdout)
                assert eff, f"no key=value lines printed:\n{p.stdout}"
                want = {k.lower(): norm_val(v) for k, v in env.items()}
                # Flags win over env vars: the args the chart passes are checked too.
                for a in args:
                    if a.startswith("--") and "=" in a:
                        k, v = a[2:].split("=", 1)
                        want[norm_key(k)] = norm_val(v)
                for k, v in want.items():
                    assert k in eff, f"{k} is not in the effective config:\n{p.stdout}"
                    got = norm_val(eff[k])
                    if k in ("prometheus_endpoint",):
                        got = got.rstrip("/") or "/"
                    assert got == v, f"{k}: agent uses {eff[k]!r}, chart sets {v!r}"
                # probes and container port point at the port the agent listens on
                ports = {p_["name"]: str(p_["containerPort"]) for p_ in c["ports"]}
                for probe in ("livenessProbe", "readinessProbe"):
                    port = c[probe]["httpGet"]["port"]
                    assert ports.get(port, str(port)) == norm_val(eff["prometheus_port"]), \
                        f"{probe} port {port} != agent port {eff['prometheus_port']}"
            checks(f"check-config accepts rendered {name}", scenario)

        def bad_value():
            docs, _, _ = H.render(chart)
            ds, c = H.agent_container(docs)
            env = kubelet_env(c, ds["spec"]["template"]["spec"])
            env["RESOLVE_DNS"] = "maybe"
            p = run_agent(binary, env, [])
            assert p.returncode == 2, f"exit {p.returncode}, want 2\n{p.stdout}{p.stderr}"
            assert "RESOLVE_DNS" in p.stderr and "maybe" in p.stderr, f"stderr: {p.stderr}"
        checks("check-config rejects a bad boolean with exit 2", bad_value)
    checks.finish()


if __name__ == "__main__":
    main()
