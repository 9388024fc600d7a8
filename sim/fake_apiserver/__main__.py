"""Entry point: `python3 -m sim.fake_apiserver ...` (from the repo root) or
`python3 sim/fake_apiserver ...` (from anywhere)."""
import os
import sys

if __package__ in (None, ""):
    # run as a directory/script: make the repo root importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))
    from sim.fake_apiserver.server import main
else:
    from .server import main

if __name__ == "__main__":
    sys.exit(main())
