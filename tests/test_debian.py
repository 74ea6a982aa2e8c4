"""The Debian package, for real: built from the tree with dpkg-buildpackage, installed
with apt, a guest launched through /usr/bin/qemuwrap, then purged, leaving the
alternatives, /etc and /usr/bin as they were.

Needs root and Debian's build tools (contrib/setup.sh --tests installs them).
"""

from __future__ import annotations

import gzip
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, Workspace

pytestmark = pytest.mark.qemu
DEBIAN_PATH = "/usr/bin:/bin:/usr/sbin:/sbin"
"""A package is built and run with Debian's tools, not a version manager's python3."""
APT_ENV = {"PATH": DEBIAN_PATH, "DEBIAN_FRONTEND": "noninteractive"}


def run(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, cwd=cwd, env={**os.environ, **APT_ENV}, capture_output=True,
                          text=True, timeout=900, check=False)
    assert done.returncode == 0, f"{argv}: {done.stdout[-3000:]}{done.stderr[-3000:]}"
    return done


def build(tmp: Path) -> Path:
    """The .deb built from the files git knows (committed or not), in a copy of the tree."""
    src = tmp / "src"
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, (f.decode() for f in files)):
        if (ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    run("dpkg-buildpackage", "-us", "-uc", "-b", cwd=src)
    deb, = tmp.glob("qemuwrap_*_all.deb")
    return deb


def machine() -> dict[str, object]:
    """What installing and purging must leave as it was."""
    query = subprocess.run(["update-alternatives", "--query", "qemu-kvm"], capture_output=True,
                           text=True, check=False, env={**os.environ, **APT_ENV})
    etc = Path("/etc/qemuwrap")
    return {"alternative": query.stdout if query.returncode == 0 else None,
            "/usr/bin/qemu-kvm": os.path.realpath("/usr/bin/qemu-kvm")
            if os.path.lexists("/usr/bin/qemu-kvm") else None,
            "/etc/qemuwrap": sorted(p.name for p in etc.iterdir()) if etc.exists() else None,
            "/usr/bin": sorted(os.listdir("/usr/bin"))}


def test_the_debian_package_builds_installs_runs_and_purges(ws: Workspace, tmp_path: Path) -> None:
    assert os.geteuid() == 0, "this test installs a package and needs root"
    if subprocess.run(["dpkg", "-s", "qemuwrap"], capture_output=True).returncode == 0:
        run("apt-get", "purge", "-y", "-q", "qemuwrap")  # left by an interrupted run
    deb = build(tmp_path)
    before = machine()
    try:
        run("apt-get", "install", "-y", "-q", "-o", "Dpkg::Options::=--force-confold", str(deb))
        installed(ws)
    finally:
        run("apt-get", "purge", "-y", "-q", "qemuwrap")
    assert machine() == before


def installed(ws: Workspace) -> None:
    for path in ("/usr/bin/qemuwrap", "/usr/bin/qemuwrap-ctl"):
        assert os.access(path, os.X_OK), path
    assert Path("/usr/bin/qemuwrap").read_text().startswith("#!/bin/sh"), "isolated interpreter"
    for page in ("qemuwrap", "qemuwrap-ctl"):
        with gzip.open(f"/usr/share/man/man1/{page}.1.gz", "rt") as f:
            assert f".TH {page.upper()} 1" in f.read()
    assert Path("/usr/share/bash-completion/completions/qemuwrap-ctl").exists()
    conffiles = run("dpkg-query", "-W", "-f", "${Conffiles}", "qemuwrap").stdout
    assert "/etc/qemuwrap/config.toml" in conffiles
    assert stat.S_IMODE(os.stat("/var/lib/qemuwrap").st_mode) == 0o700
    query = run("update-alternatives", "--query", "qemu-kvm").stdout
    assert "Alternative: /usr/bin/qemuwrap\nPriority: 0" in query

    env = {**ws.env(QEMUWRAP_DEBUG="1"), "PATH": DEBIAN_PATH}
    del env["QEMUWRAP_QEMU"]
    line = ["-name", "deb", "-drive", "file=a.img,if=virtio,format=raw", "-S", "-display", "none",
            "-qmp", "stdio"]
    first, again = (subprocess.run(["/usr/bin/qemuwrap", *line], env=env, cwd=ws.root,
                                   capture_output=True, text=True, timeout=60, check=False,
                                   input='{"execute":"qmp_capabilities"}\n'
                                         '{"execute":"query-pci"}\n{"execute":"quit"}\n')
                    for _ in range(2))
    assert first.returncode == 0 and again.returncode == 0, first.stderr + again.stderr
    assert "exec /usr/bin/qemu-system-x86_64 " in first.stderr, "planned, the real QEMU found"
    assert "virtio-blk-pci,drive=virtio0,bus=pci.0,addr=0x4" in first.stderr
    assert '"device": 4097' in first.stdout, "the guest has the virtio disk (1af4:1001)"
    assert "exec (replayed)" in again.stderr, "the daily launch is replayed from dist-packages"
    assert (ws.state / "deb.toml").exists()
    version = run("/usr/bin/qemuwrap-ctl", "--version").stdout
    assert version.startswith("qemuwrap-ctl ")
    if os.path.realpath("/usr/bin/qemu-kvm") == "/usr/bin/qemuwrap":
        kvm = run("/usr/bin/qemu-kvm", "-version").stdout
        assert "QEMU emulator version" in kvm
