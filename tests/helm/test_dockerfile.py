#!/usr/bin/env python3
"""deploy/docker/Dockerfile (no docker engine needed).

  test_dockerfile.py static          structure: multi-stage, debian:12 builder using
                                     scripts/setup.sh + cmake, final stage with only the
                                     runtime root filesystem; .dockerignore keeps build
                                     output and tool caches out of the context.
  test_dockerfile.py rootfs <binary> run the Dockerfile's own rootfs-assembly block
                                     (between `# BEGIN rootfs` and `# END rootfs`) on a
                                     locally built agent, then start the agent chrooted in
                                     the result (`--check-config`): the image's files are
                                     enough to run it. SKIP (77) without the binary or root.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import helmlib as H  # noqa: E402

DOCKERFILE = H.REPO / "deploy" / "docker" / "Dockerfile"
DOCKERIGNORE = H.REPO / ".dockerignore"


def instructions(text: str):
    """(INSTRUCTION, args) with line continuations joined and comments dropped."""
    out, cur = [], ""
    for line in text.splitlines():
        if not cur and (line.strip().startswith("#") or not line.strip()):
            continue
        if line.strip().startswith("#"):
            continue  # comment inside a continued instruction
        if line.rstrip().endswith("\\"):
            cur += line.rstrip()[:-1] + " "
            continue
        cur += line
        word, _, rest = cur.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        cur = ""
    return out


def rootfs_block(text: str) -> str:
    m = re.search(r"# BEGIN rootfs\n(.*?)# END rootfs", text, re.S)
    assert m, "Dockerfile has no '# BEGIN rootfs' ... '# END rootfs' block"
    ins = instructions(m.group(1))
    assert len(ins) == 1 and ins[0][0] == "RUN", "the rootfs block must be a single RUN"
    return ins[0][1]


def cmd_static(checks):
    text = DOCKERFILE.read_text()
    ins = instructions(text)
    args = {a.split("=", 1)[0]: a.split("=", 1)[1] for w, a in ins if w == "ARG" and "=" in a}
    stages = []
    for w, a in ins:
        if w == "FROM":
            img = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), a.split()[0])
            stages.append({"image": img, "name": a.split()[-1] if " AS " in a.upper() else None, "ins": []})
        elif stages:
            stages[-1]["ins"].append((w, a))

    def multi_stage():
        assert len(stages) >= 2, "multi-stage build expected"
        b = stages[0]
        assert b["image"] == "debian:12", f"builder is {b['image']}, want debian:12"
        runs = " ; ".join(a for w, a in b["ins"] if w == "RUN")
        assert "scripts/setup.sh" in runs, "builder must use scripts/setup.sh"
        assert re.search(r"cmake -S \. -B build\b", runs) and "--target caretta" in runs, runs
        assert "build/caretta" in runs
    checks("builder: debian:12, scripts/setup.sh, cmake build of build/caretta", multi_stage)

    def final_stage():
        f = stages[-1]
        assert f["image"] in ("scratch", "debian:12-slim", "debian:12"), f["image"]
        copies = [a for w, a in f["ins"] if w in ("COPY", "ADD")]
        assert copies and all(a.startswith("--from=") for a in copies), \
            f"final stage may only copy from the builder: {copies}"
        assert not [a for w, a in f["ins"] if w == "RUN"], "final stage runs nothing (no shell there)"
        ep = [a for w, a in f["ins"] if w == "ENTRYPOINT"]
        assert ep and "/usr/local/bin/caretta" in ep[-1] and ep[-1].startswith("["), "exec-form ENTRYPOINT"
        assert ("USER", "0:0") in f["ins"] or ("USER", "0") in f["ins"], "explicit root user (capabilities)"
        assert any(w == "EXPOSE" and "7117" in a for w, a in f["ins"])
    checks("final stage: only the runtime rootfs from the builder", final_stage)

    def block():
        b = rootfs_block(text)
        assert "BIN=/src/build/caretta" in b and "ROOTFS=/rootfs" in b, "block must set BIN and ROOTFS"
        assert "COPY --from=build /rootfs/ /" in text
    checks("rootfs block is testable", block)

    def dockerignore():
        assert DOCKERIGNORE.exists(), ".dockerignore missing at the repository root"
        pats = [ln.strip() for ln in DOCKERIGNORE.read_text().splitlines()
                if ln.strip() and not ln.startswith("#")]
        for want in (".git", "build*/", ".tools/", "**/node_modules/"):
            assert want in pats, f".dockerignore lacks {want}"
        for keep in ("scripts", "src", "bpf", "ui", "CMakeLists.txt"):
            assert not any(p.rstrip("/") == keep for p in pats), f".dockerignore drops {keep}"
    checks(".dockerignore keeps build output and caches out", dockerignore)


def cmd_rootfs(checks, binary):
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        H.skip(f"agent binary {binary} is not built yet")
    if os.geteuid() != 0:
        H.skip("needs root (chroot into the assembled image filesystem)")
    for tool in ("ldd", "unshare", "chroot", "mount"):
        if not shutil.which(tool):
            H.skip(f"{tool} not installed")
    script = rootfs_block(DOCKERFILE.read_text())
    with tempfile.TemporaryDirectory(prefix="caretta-rootfs-") as tmp:
        root = Path(tmp) / "rootfs"
        script = script.replace("BIN=/src/build/caretta", f"BIN={binary}").replace(
            "ROOTFS=/rootfs", f"ROOTFS={root}")

        def assemble():
            p = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60)
            assert p.returncode == 0, p.stdout + p.stderr
            files = [f.relative_to(root).as_posix() for f in root.rglob("*") if not f.is_dir()]
            extra = [f for f in files if not (f == "usr/local/bin/caretta" or re.search(r"\.so(\.|$)", f)
                                              or f in ("etc/passwd", "etc/group", "etc/nsswitch.conf"))]
            assert not extra, f"unexpected files in the image: {extra}"
            print(f"     image rootfs: {len(files)} files, "
                  f"{sum((root / f).stat().st_size for f in files if (root / f).is_file()) // 1024} KiB")
        checks("Dockerfile rootfs block assembles the image filesystem", assemble)

        def runs_in_rootfs():
            (root / "proc").mkdir(exist_ok=True)
            inner = (f"mount --bind /proc {root}/proc && "
                     f"exec chroot {root} /usr/local/bin/caretta --check-config")
            p = subprocess.run(["unshare", "--mount", "--fork", "sh", "-c", inner],
                               env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "NODE_NAME": "image-test", "HOST_PROC": "/proc"},
                               capture_output=True, text=True, timeout=30)
            if p.returncode != 0 and "unshare failed" in p.stderr:
                H.skip(f"cannot create a mount namespace here: {p.stderr.strip()}")
            assert p.returncode == 0, f"exit {p.returncode}\n{p.stdout}\n{p.stderr}"
            assert re.search(r"^\S+=", p.stdout, re.M), f"no key=value output:\n{p.stdout}"
        checks("agent starts from the image filesystem alone (chroot, --check-config)", runs_in_rootfs)


def main():
    checks = H.Checks()
    if sys.argv[1:2] == ["rootfs"] and len(sys.argv) == 3:
        cmd_rootfs(checks, sys.argv[2])
    elif sys.argv[1:] in ([], ["static"]):
        cmd_static(checks)
    else:
        print(__doc__)
        sys.exit(2)
    checks.finish()


if __name__ == "__main__":
    main()
