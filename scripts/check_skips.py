#!/usr/bin/env python3
"""Fails a CI run on tests that were skipped without a documented reason.

Reads the JUnit file ctest wrote (`ctest --output-junit FILE`) and collects every
skip: ctest tests that reported SKIP (SKIP_RETURN_CODE / SKIP_REGULAR_EXPRESSION),
and skips inside a test that passed as a whole — GoogleTest's "[  SKIPPED ] Name"
and Python unittest's "... skipped 'why'". Each skip must match an entry of
tests/skip_allowlist.txt (fnmatch patterns on "ctest_name" or
"ctest_name/inner_name", each with its reason). With CI=true an unlisted skip fails
the run (exit 1); elsewhere the skips are listed as a warning.

usage: check_skips.py JUNIT_XML [ALLOWLIST]
"""
import fnmatch
import os
import re
import sys
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_ALLOWLIST = os.path.join(HERE, "..", "tests", "skip_allowlist.txt")

GTEST_SKIP = re.compile(r"^\[  SKIPPED \] (\S+?)(?: \(\d+ ms\))?$", re.M)
UNITTEST_SKIP = re.compile(r"^(\S+) \(([\w.]+)\)(?:\n.*?)? \.\.\. skipped '(.*)'$", re.M)


def load_allowlist(path):
    entries = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            pattern, _, reason = line.partition(" ")
            if not reason.strip():
                sys.exit(f"{path}:{n}: entry '{pattern}' gives no reason")
            entries.append((pattern, reason.strip()))
    return entries


def skips(junit):
    found = []  # (name, why)
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = case.get("name")
        out = case.findtext("system-out") or ""
        skipped = case.find("skipped")
        if case.get("status") in ("notrun", "disabled") or skipped is not None:
            why = skipped.get("message", "") if skipped is not None else case.get("status")
            lines = [l for l in out.splitlines() if "skip" in l.lower()]
            found.append((name, (lines[-1] if lines else why)[:200]))
            continue
        if case.get("status") != "run":
            continue
        for inner in GTEST_SKIP.findall(out):
            found.append((f"{name}/{inner}", "GTEST_SKIP"))
        for method, test_id, why in UNITTEST_SKIP.findall(out):
            # Python >= 3.11 prints the full id in parentheses, older ones the class.
            inner = test_id if test_id.endswith("." + method) else f"{test_id}.{method}"
            found.append((f"{name}/{inner}", why))
    return found


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    junit = sys.argv[1]
    allowlist = load_allowlist(sys.argv[2] if len(sys.argv) > 2 else DEFAULT_ALLOWLIST)
    unexpected = []
    for name, why in skips(junit):
        match = next((r for p, r in allowlist if fnmatch.fnmatchcase(name, p)), None)
        if match:
            print(f"skip (allowed: {match}): {name}: {why}")
        else:
            unexpected.append((name, why))
    for name, why in unexpected:
        print(f"UNEXPECTED SKIP: {name}: {why}")
    if unexpected and os.environ.get("CI", "").lower() == "true":
        print(f"{len(unexpected)} test(s) skipped in CI without an entry in "
              f"tests/skip_allowlist.txt: make them run, or list them with the reason")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
