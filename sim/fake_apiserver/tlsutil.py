"""Self-signed CA and server certificate via the openssl CLI, and kubeconfig writing."""

import base64
import ipaddress
import logging
import os
import subprocess

log = logging.getLogger("fake-apiserver")


def _run(args, cwd):
    r = subprocess.run(["openssl"] + args, cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed: {r.stderr.decode(errors='replace')}")


def _san_entries(hosts):
    out, seen = [], set()
    for h in hosts:
        h = h.strip().strip("[]")
        if not h or h in seen:
            continue
        seen.add(h)
        try:
            ipaddress.ip_address(h)
            out.append(f"IP:{h}")
        except ValueError:
            out.append(f"DNS:{h}")
    return out


def generate(state_dir, extra_sans=(), reuse=False):
    """Create ca.crt/ca.key/server.crt/server.key in state_dir (EC P-256).
    Returns dict of paths. With reuse=True an existing CA is kept (server cert is
    re-issued so new SANs apply)."""
    os.makedirs(state_dir, exist_ok=True)
    p = {k: os.path.join(state_dir, k) for k in
         ("ca.crt", "ca.key", "server.crt", "server.key", "server.csr", "server.ext")}
    sans = _san_entries(["127.0.0.1", "::1", "localhost", "kubernetes",
                         "kubernetes.default", "kubernetes.default.svc"] + list(extra_sans))
    if not (reuse and os.path.exists(p["ca.crt"]) and os.path.exists(p["ca.key"])):
        _run(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
              "-nodes", "-keyout", p["ca.key"], "-out", p["ca.crt"], "-days", "3650",
              "-subj", "/CN=fake-apiserver-ca",
              "-addext", "basicConstraints=critical,CA:TRUE",
              "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"],
             state_dir)
    with open(p["server.ext"], "w") as f:
        f.write("basicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\n"
                f"subjectAltName={','.join(sans)}\n")
    _run(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
          "-nodes", "-keyout", p["server.key"], "-out", p["server.csr"],
          "-subj", "/CN=kube-apiserver"], state_dir)
    _run(["x509", "-req", "-in", p["server.csr"], "-CA", p["ca.crt"], "-CAkey", p["ca.key"],
          "-CAcreateserial", "-out", p["server.crt"], "-days", "825", "-sha256",
          "-extfile", p["server.ext"]], state_dir)
    for k in ("ca.key", "server.key"):
        os.chmod(p[k], 0o600)
    log.debug("certificates in %s, SANs %s", state_dir, ",".join(sans))
    return {"ca": p["ca.crt"], "ca_key": p["ca.key"], "cert": p["server.crt"],
            "key": p["server.key"], "sans": sans}


def write_kubeconfig(path, server_url, ca_file, token=None, token_file=None,
                     name="fake", namespace="default"):
    """Writes a kubeconfig in the usual YAML layout (what kubectl itself writes)."""
    with open(ca_file, "rb") as f:
        ca_data = base64.b64encode(f.read()).decode()
    if token_file:
        user = f"    tokenFile: {token_file}\n"
    else:
        user = f"    token: {token}\n"
    text = (
        "apiVersion: v1\n"
        "kind: Config\n"
        "clusters:\n"
        "- cluster:\n"
        f"    certificate-authority-data: {ca_data}\n"
        f"    server: {server_url}\n"
        f"  name: {name}\n"
        "contexts:\n"
        "- context:\n"
        f"    cluster: {name}\n"
        f"    namespace: {namespace}\n"
        f"    user: {name}\n"
        f"  name: {name}\n"
        f"current-context: {name}\n"
        "preferences: {}\n"
        "users:\n"
        f"- name: {name}\n"
        "  user:\n" + user)
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
