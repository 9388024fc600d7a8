#!/usr/bin/env python3
"""Tiny authoritative DNS server for the simulated outside world (stdlib, UDP only).

Answers PTR queries for the configured addresses (`in-addr.arpa` / `ip6.arpa`) and A
queries for the configured names; everything else gets NXDOMAIN (REFUSED for opcodes
other than QUERY). Config JSON: {"listen": [["198.51.100.53", 53], ...],
"records": {"198.51.100.10": "api.payments.example", ...}, "max_seconds": N}.
Exits after max_seconds or on SIGTERM.
"""

import ipaddress
import json
import os
import select
import signal
import socket
import struct
import sys
import time


def ptr_name(ip):
    return ipaddress.ip_address(ip).reverse_pointer.lower() + "."


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        b = label.encode()
        out += bytes([len(b)]) + b
    return out + b"\0"


def parse_question(msg):
    """(qname, qtype, qclass, end offset) of the first question."""
    i, labels = 12, []
    while True:
        n = msg[i]
        if n == 0:
            i += 1
            break
        if n & 0xC0:
            raise ValueError("compressed name in question")
        labels.append(msg[i + 1:i + 1 + n].decode("ascii", "replace"))
        i += 1 + n
    qtype, qclass = struct.unpack(">HH", msg[i:i + 4])
    return ".".join(labels).lower() + ".", qtype, qclass, i + 4


def answer(msg, ptr, fwd):
    if len(msg) < 12:
        return None
    qid, flags, qd = struct.unpack(">HHH", msg[:6])
    opcode = (flags >> 11) & 0xF
    rd = flags & 0x0100
    if flags & 0x8000:
        return None  # a response, ignore
    if opcode != 0 or qd != 1:
        return struct.pack(">HHHHHH", qid, 0x8000 | (opcode << 11) | rd | 5, 0, 0, 0, 0)
    try:
        qname, qtype, qclass, end = parse_question(msg)
    except (ValueError, IndexError, struct.error):
        return struct.pack(">HHHHHH", qid, 0x8000 | rd | 1, 0, 0, 0, 0)
    question = msg[12:end]
    rr = b""
    if qtype in (12, 255) and qname in ptr:  # PTR
        rdata = encode_name(ptr[qname])
        rr = b"\xc0\x0c" + struct.pack(">HHIH", 12, 1, 300, len(rdata)) + rdata
    elif qtype in (1, 255) and qname in fwd:  # A
        rdata = socket.inet_aton(fwd[qname])
        rr = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 300, 4) + rdata
    known = qname in ptr or qname in fwd
    rcode = 0 if known else 3
    hdr = struct.pack(">HHHHHH", qid, 0x8400 | rd | rcode, 1, 1 if rr else 0, 0, 0)
    return hdr + question + rr


def main():
    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    ptr = {ptr_name(ip): name for ip, name in cfg["records"].items()}
    fwd = {name.lower().rstrip(".") + ".": ip for ip, name in cfg["records"].items()
           if ":" not in ip}
    socks = []
    for addr, port in cfg["listen"]:
        s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((addr, int(port)))
        socks.append(s)
    if cfg.get("port_file"):
        # Written whole, then renamed: the cluster polls for the file and reads it
        # at once (an in-place write let it read an empty file).
        tmp = cfg["port_file"] + ".tmp"
        with open(tmp, "w") as f:
            json.dump([s.getsockname()[:2] for s in socks], f)
        os.replace(tmp, cfg["port_file"])
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    deadline = time.monotonic() + float(cfg.get("max_seconds", 3600))
    while not stop and time.monotonic() < deadline:
        try:
            ready, _, _ = select.select(socks, [], [], 0.5)
        except InterruptedError:
            continue
        for s in ready:
            try:
                msg, peer = s.recvfrom(1500)
            except OSError:
                continue
            resp = answer(msg, ptr, fwd)
            if resp:
                s.sendto(resp, peer)


if __name__ == "__main__":
    main()
