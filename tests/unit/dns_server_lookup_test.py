#!/usr/bin/env python3
"""Runs the C++ c-ares reverse lookup (via a tiny driver) against the simulator's
PTR server on loopback: a known address gets its name, an unknown one none, a dead
server none within the timeout."""
import json
import os
import subprocess
import sys
import tempfile
import time

DRIVER, REPO = sys.argv[1], sys.argv[2]


def main():
    with tempfile.TemporaryDirectory() as d:
        cfg, portf = os.path.join(d, "dns.json"), os.path.join(d, "port")
        json.dump({"listen": [["127.0.0.1", 0]], "port_file": portf, "max_seconds": 30,
                   "records": {"198.51.100.10": "api.payments.example",
                               "fd00:10:250::99": "v6.example"}}, open(cfg, "w"))
        srv = subprocess.Popen([sys.executable, os.path.join(REPO, "sim/ctsim/dns.py"), cfg])
        try:
            deadline = time.time() + 10
            while not os.path.exists(portf) and time.time() < deadline:
                time.sleep(0.05)
            port = json.load(open(portf))[0][1]
            server = f"127.0.0.1:{port}"
            cases = [("198.51.100.10", "api.payments.example"), ("fd00:10:250::99", "v6.example"),
                     ("198.51.100.11", "")]
            for ip, want in cases:
                got = subprocess.run([DRIVER, server, ip], capture_output=True, text=True,
                                     timeout=20).stdout.strip()
                assert got == want, (ip, got, want)
            t0 = time.time()
            got = subprocess.run([DRIVER, "127.0.0.1:1", "198.51.100.10"], capture_output=True,
                                 text=True, timeout=20).stdout.strip()
            assert got == "" and time.time() - t0 < 10, got
            bad = subprocess.run([DRIVER, "not a server", "198.51.100.10"], capture_output=True,
                                 text=True, timeout=20)
            assert bad.returncode == 2, bad
        finally:
            srv.kill()
            srv.wait()
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
