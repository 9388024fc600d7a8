"""A tiny stand-in for the agent's /metrics: the same metric names, labels and
types as the agent exports (docs/CONTRACTS.md, deploy/grafana/dashboard.json),
for a small shop. Counters (and the cumulative-bytes gauge) grow on every scrape.
Serves on 127.0.0.1 only.
"""
from __future__ import annotations

import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# (name, namespace, kind)
CHECKOUT = ("checkout", "shop", "Deployment")
FRONTEND = ("frontend", "shop", "Deployment")
CATALOG = ("productcatalog", "shop", "Service")
CHECKOUT_SVC = ("checkout", "shop", "Service")
REDIS = ("redis", "shop", "StatefulSet")
COREDNS = ("kube-dns", "kube-system", "Service")
NODE = ("node-a", "node", "node")
EXTERNAL = ("api.payments.example", "external", "external")

# (client, server, port, roles observed, bytes per scrape sent by client / by server)
LINKS = [
    (FRONTEND, CHECKOUT_SVC, 5050, ("1", "2"), 1200, 5400),
    (CHECKOUT, CATALOG, 3550, ("1", "2"), 800, 9000),
    (CHECKOUT, REDIS, 6379, ("1", "2"), 300, 150),
    (CHECKOUT, COREDNS, 53, ("1",), 60, 120),
    (CHECKOUT, EXTERNAL, 443, ("1",), 2000, 700),
    (NODE, FRONTEND, 8080, ("2",), 100, 40),
]
NODES = [("node-a", "eu-west-1a", "eu-west-1"), ("node-b", "eu-west-1b", "eu-west-1")]
ZONES = [("eu-west-1a", "eu-west-1a", 5000), ("eu-west-1a", "eu-west-1b", 3000),
         ("eu-west-1b", "eu-west-1a", 1000)]


def entity_id(e) -> str:
    return str(zlib.crc32(("/".join(e)).encode()))


def link_labels(c, s, port, role) -> str:
    link_id = zlib.crc32(f"{entity_id(c)}:{entity_id(s)}:{port}:{role}".encode())
    return (f'link_id="{link_id}",client_id="{entity_id(c)}",client_name="{c[0]}",'
            f'client_namespace="{c[1]}",client_kind="{c[2]}",client_owner="",'
            f'server_id="{entity_id(s)}",server_name="{s[0]}",server_namespace="{s[1]}",'
            f'server_kind="{s[2]}",server_port="{port}",role="{role}"')


def metrics_text(n: int) -> str:
    """Exposition after n scrapes (n >= 1)."""
    out = []

    def family(name, typ, help_):
        out.append(f"# HELP {name} {help_}")
        out.append(f"# TYPE {name} {typ}")

    family("caretta_links_observed", "gauge",
           "Bytes sent by the observing end of a link since the agent started.")
    for c, s, port, roles, c2s, s2c in LINKS:
        for role in roles:
            sent = c2s if role == "1" else s2c
            out.append(f"caretta_links_observed{{{link_labels(c, s, port, role)}}} {sent * n}")
    family("caretta_tcp_states", "gauge", "TCP state of the link's newest connection.")
    for c, s, port, roles, _, _ in LINKS:
        for role in roles:
            out.append(f"caretta_tcp_states{{{link_labels(c, s, port, role)}}} 1")
    for metric, pick in (("caretta_link_bytes_sent_total", 0), ("caretta_link_bytes_received_total", 1)):
        family(metric, "counter", "Bytes on the link since the agent started, from the observing end.")
        for c, s, port, roles, c2s, s2c in LINKS:
            for role in roles:
                client_view = (c2s, s2c)
                server_view = (s2c, c2s)
                v = (client_view if role == "1" else server_view)[pick]
                out.append(f"{metric}{{{link_labels(c, s, port, role)}}} {v * n}")
    family("caretta_link_connections_opened_total", "counter", "Connections opened on the link.")
    for c, s, port, roles, _, _ in LINKS:
        for role in roles:
            out.append(f"caretta_link_connections_opened_total{{{link_labels(c, s, port, role)}}} {2 * n}")
    family("caretta_link_retransmits_total", "counter", "TCP retransmissions on the link.")
    for c, s, port, roles, _, _ in LINKS:
        for role in roles:
            out.append(f"caretta_link_retransmits_total{{{link_labels(c, s, port, role)}}} {n // 2}")
    family("caretta_link_failed_connects_total", "counter", "Connection attempts that failed.")
    for c, s, port in ((CHECKOUT, CATALOG, 3550), (CHECKOUT, EXTERNAL, 443)):
        out.append(f'caretta_link_failed_connects_total{{client_name="{c[0]}",client_namespace="{c[1]}",'
                   f'client_kind="{c[2]}",server_name="{s[0]}",server_namespace="{s[1]}",'
                   f'server_kind="{s[2]}",server_port="{port}"}} {n}')
    family("caretta_link_zone_bytes_total", "counter", "Bytes between the zones of client and server nodes.")
    for cz, sz, per in ZONES:
        out.append(f'caretta_link_zone_bytes_total{{client_zone="{cz}",server_zone="{sz}"}} {per * n}')
    family("caretta_node_info", "gauge", "The agent's node, with its zone and region.")
    for node, zone, region in NODES:
        out.append(f'caretta_node_info{{node="{node}",zone="{zone}",region="{region}"}} 1')
    return "\n".join(out) + "\n"


class Exporter:
    def __init__(self):
        self.scrapes = 0
        self.lock = threading.Lock()
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404)
                    return
                with exporter.lock:
                    exporter.scrapes += 1
                    body = metrics_text(exporter.scrapes).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
