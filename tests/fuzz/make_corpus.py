#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora (tests/fuzz/corpus/<target>/) from the
unit-test fixtures and a few hand-made protocol messages. Deterministic: running it
again rewrites the same files. Usage: python3 tests/fuzz/make_corpus.py"""
import hashlib
import json
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")

# Order of src/k8s/watched_resources.json: the targets pick a resource by index.
RESOURCES = [r["resource"] for r in json.load(open(os.path.join(ROOT, "src/k8s/watched_resources.json")))]
KIND_TO_RESOURCE = {"Pod": "pods", "Node": "nodes", "Service": "services",
                    "EndpointSlice": "endpointslices", "ReplicaSet": "replicasets",
                    "Deployment": "deployments", "DaemonSet": "daemonsets",
                    "StatefulSet": "statefulsets", "Job": "jobs", "CronJob": "cronjobs"}


def write(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def compact(obj):
    return json.dumps(obj, separators=(",", ":"))


def k8s_objects():
    items = json.load(open(os.path.join(ROOT, "tests/unit/k8s/fixtures/cluster.json")))["items"]
    by_resource = {}
    for item in items:
        resource = KIND_TO_RESOURCE[item["kind"]]
        by_resource.setdefault(resource, []).append(item)
        write("fuzz_k8s_object", bytes([RESOURCES.index(resource)]) + compact(item).encode())
    return by_resource


def reflector(by_resource):
    for resource, items in by_resource.items():
        sel = bytes([RESOURCES.index(resource)])
        half = (len(items) + 1) // 2
        page1 = {"kind": "List", "metadata": {"resourceVersion": "100", "continue": "next-1"},
                 "items": items[:half]}
        page2 = {"kind": "List", "metadata": {"resourceVersion": "100"}, "items": items[half:]}
        events = [{"type": "ADDED", "object": items[0]},
                  {"type": "MODIFIED", "object": items[-1]},
                  {"type": "BOOKMARK", "object": {"kind": items[0]["kind"],
                                                  "metadata": {"resourceVersion": "150"}}},
                  {"type": "DELETED", "object": items[0]}]
        stream = "".join(compact(e) + "\n" for e in events)
        # Chunks that end inside lines, as a proxy or the API server may send them.
        cuts = [0, 7, len(stream) // 2, len(stream) - 3, len(stream)]
        chunks = [stream[a:b] for a, b in zip(cuts, cuts[1:])]
        sections = ["L" + compact(page1), "L" + compact(page2)] + ["W" + c for c in chunks]
        write("fuzz_k8s_reflector", sel + "\0".join(sections).encode())
        # One page, then a watch that ends with 410 Gone (relist).
        gone = {"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired"}}
        single = {"kind": "List", "metadata": {"resourceVersion": "7"}, "items": items}
        write("fuzz_k8s_reflector",
              sel + ("L" + compact(single) + "\0W" + compact(events[1]) + "\n" + compact(gone)
                     + "\n").encode())


KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: LS0tLS1CRUdJTg==
    server: https://127.0.0.1:6443/
  name: prod
- cluster:
    server: https://other:443
    insecure-skip-tls-verify: true
  name: other
contexts:
- context:
    cluster: prod
    user: admin
  name: prod-ctx
- context: {cluster: other, user: cert-user}
  name: other-ctx
current-context: prod-ctx
preferences: {}
users:
- name: admin
  user:
    token: "s3cret"
- name: cert-user
  user:
    client-certificate-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t
    client-key-data: LS0tLS1CRUdJTiBLRVktLS0tLQ==
"""


def kubeconfig():
    write("fuzz_kubeconfig", KUBECONFIG)
    write("fuzz_kubeconfig", KUBECONFIG.replace("current-context: prod-ctx", "current-context: other-ctx"))
    write("fuzz_kubeconfig", "clusters: [{name: c, cluster: {server: \"http://x:8080\"}}]\n"
                             "users: [{name: u, user: {tokenFile: /dev/null}}]\n"
                             "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
                             "current-context: x\n")
    # Two files merged first-wins (KUBECONFIG=a:b), the context in the second.
    write("fuzz_kubeconfig", "current-context: prod-ctx\nusers: []\n\0" + KUBECONFIG)
    # Anchors and aliases are YAML too.
    write("fuzz_kubeconfig", "a: &x {server: https://h}\nclusters: [{name: c, cluster: *x}]\n"
                             "contexts: [{name: k, context: {cluster: c}}]\ncurrent-context: k\n")


def dns_name(name):
    out = b""
    for label in name.split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def ptr_answer(names, flags=0x8180, compress=True):
    question = dns_name("1.2.0.192.in-addr.arpa") + struct.pack("!HH", 12, 1)
    header = struct.pack("!HHHHHH", 0x1234, flags, 1, len(names), 0, 0)
    answers = b""
    for n in names:
        owner = b"\xc0\x0c" if compress else dns_name("1.2.0.192.in-addr.arpa")
        rdata = dns_name(n)
        answers += owner + struct.pack("!HHIH", 12, 1, 300, len(rdata)) + rdata
    return header + question + answers


def dns():
    write("fuzz_dns_ptr", ptr_answer(["web.example.com"]))
    write("fuzz_dns_ptr", ptr_answer(["a.example", "b.example.org"], compress=False))
    write("fuzz_dns_ptr", ptr_answer([], flags=0x8183))  # NXDOMAIN
    write("fuzz_dns_ptr", ptr_answer(["caf\xe9.example"]))


def conntrack():
    import socket
    v4 = lambda a: socket.inet_pton(socket.AF_INET, a)
    v6 = lambda a: socket.inet_pton(socket.AF_INET6, a)
    port = lambda p: struct.pack("!H", p)
    # Presence bits: 1 reply family, 2 reply IPv4 source, 4 reply IPv6 source,
    # 8 reply source port, 16/32 original family/source (see fuzz_conntrack.cc).
    write("fuzz_conntrack", bytes([1 | 2 | 8 | 16 | 32, socket.AF_INET]) + v4("10.244.1.7")
          + bytes(16) + port(8080))
    write("fuzz_conntrack", bytes([1 | 4 | 8, socket.AF_INET6]) + bytes(4) + v6("fd00:244::7")
          + port(8443))
    write("fuzz_conntrack", bytes([1 | 2, socket.AF_INET]) + v4("10.244.1.7"))  # no port


def config():
    write("fuzz_config", "--prometheus-port\n9000\n--poll-interval=2\n$RESOLVE_DNS=true\n")
    write("fuzz_config", "$POLL_INTERVAL=15\n$MAX_LINKS=100\n$TRAVERSE_UP_HIERARCHY=no\n"
                         "--dns-server\n[::1]:53\n")
    write("fuzz_config", "ui\n--graph-source\nprometheus=http://127.0.0.1:9090\n")
    write("fuzz_config", "--socket-discovery=tasks\n--conntrack-netns\n/proc/1/ns/net,off\n"
                         "$PROMETHEUS_ENDPOINT=/m\n--check-config\n")
    write("fuzz_config", "--help\n")


def graph_answer(series):
    return compact({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": m, "value": [1700000000.123, v]} for m, v in series]}})


def graph():
    link = {"client_name": "web", "client_namespace": "shop", "client_kind": "Deployment",
            "server_name": "db", "server_namespace": "shop", "server_kind": "StatefulSet",
            "server_port": "5432", "role": "1"}
    other = dict(link, client_name="cron", client_kind="CronJob", role="2")
    # sent, received, opened, retransmits, active, increase, failed connects
    values = ["123456", "654321", "12", "0", "3", "5000", "1"]
    write("fuzz_prometheus_graph", "\0".join(graph_answer([(link, v), (other, v)]) for v in values))
    # Prometheus answers NaN and +Inf for some expressions; an error status too.
    write("fuzz_prometheus_graph", "\0".join(graph_answer([(link, v)]) for v in
                                             ["NaN", "+Inf", "-1", "1e300", "NaN", "-Inf", "2"]))
    write("fuzz_prometheus_graph", compact({"status": "error", "errorType": "bad_data",
                                            "error": "parse error"}))


def labels():
    write("fuzz_prometheus_labels", "web\0shop\0Deployment\0db\0shop\0StatefulSet\0005432\0001")
    write("fuzz_prometheus_labels", "quote\" back\\slash\nnewline\0caf\xc3\xa9 \xe2\x82\xac")
    write("fuzz_prometheus_labels", b"bad \xff\xfe utf8 \xc3\0\xed\xa0\x80")


if __name__ == "__main__":
    shutil.rmtree(CORPUS, ignore_errors=True)
    reflector(k8s_objects())
    kubeconfig()
    dns()
    conntrack()
    config()
    graph()
    labels()
    for t in sorted(os.listdir(CORPUS)):
        files = os.listdir(os.path.join(CORPUS, t))
        size = sum(os.path.getsize(os.path.join(CORPUS, t, f)) for f in files)
        print(f"{t}: {len(files)} seeds, {size} bytes")
