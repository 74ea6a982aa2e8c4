"""libvirt for the tests, without touching the machine's own: virtlogd and libvirtd run
in a private mount namespace whose /etc/libvirt, /run/libvirt, /var/lib/libvirt,
/var/log/libvirt and /var/cache/libvirt are temporary directories (qemu.conf says
``user = "root"``). ``virsh`` runs inside it through ``nsenter``.

Domains use qemuwrap as ``<emulator>``: a small script, since libvirt starts QEMU
with an environment of its own, that runs this checkout's qemuwrap with the test's
state directory and config.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import ROOT

DIRS = {"etc": "/etc/libvirt", "run": "/run/libvirt", "lib": "/var/lib/libvirt",
        "log": "/var/log/libvirt", "cache": "/var/cache/libvirt"}


class Libvirt:
    """A libvirtd of the test's own; ``with Libvirt(tmp) as lv: lv.virsh("list")``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.holder: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Libvirt:
        for name in DIRS:
            (self.root / name).mkdir(parents=True)
        shutil.copytree("/etc/libvirt", self.root / "etc", dirs_exist_ok=True)
        conf = self.root / "etc" / "qemu.conf"
        conf.write_text(conf.read_text() + '\nuser = "root"\ngroup = "root"\n')
        binds = " && ".join(f"mkdir -p {target} && mount --bind {self.root / name} {target}"
                            for name, target in DIRS.items())
        run = self.root / "run"
        script = (f"mount --make-rprivate / && {binds} && "
                  f"virtlogd -p {run}/virtlogd.pid & sleep 0.5; "
                  f"libvirtd -p {run}/libvirtd.pid & wait")
        self.holder = subprocess.Popen(["unshare", "-m", "sh", "-c", script],
                                       start_new_session=True, stdout=subprocess.DEVNULL,
                                       stderr=(self.root / "daemons.log").open("wb"))
        deadline = time.monotonic() + 30
        while self.virsh("version", check=False).returncode != 0:
            assert self.holder.poll() is None, (self.root / "daemons.log").read_text()
            assert time.monotonic() < deadline, "libvirtd did not answer"
            time.sleep(0.2)
        return self

    def __exit__(self, *_: object) -> None:
        for name in self.virsh("list", "--name", check=False).stdout.split():
            self.virsh("destroy", name, check=False)
        if self.holder is not None:
            os.killpg(self.holder.pid, signal.SIGTERM)
            self.holder.wait(timeout=30)

    def virsh(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        assert self.holder is not None
        done = subprocess.run(["nsenter", "-t", str(self.holder.pid), "-m", "virsh", "-c",
                               "qemu:///system", *args], capture_output=True, text=True,
                              timeout=120, check=False)
        if check:
            assert done.returncode == 0, f"virsh {' '.join(args)}: {done.stderr}"
        return done

    def ctl(self, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        """qemuwrap-ctl inside the namespace (it calls virsh for --libvirt)."""
        assert self.holder is not None
        command = [sys.executable, "-I", str(ROOT / "bin" / "qemuwrap-ctl"), *args]
        return subprocess.run(["nsenter", "-t", str(self.holder.pid), "-m", *command],
                              env=env, capture_output=True, text=True, timeout=120, check=False)

    def qmp(self, domain: str, command: str) -> str:
        return self.virsh("qemu-monitor-command", domain, "--pretty",
                          f'{{"execute": "{command}"}}').stdout


def emulator(where: Path, state_dir: Path, config: Path) -> Path:
    """The ``<emulator>`` script: this checkout's qemuwrap, the test's state and config."""
    where.write_text(f"#!/bin/sh\nQEMUWRAP_STATE_DIR={state_dir} QEMUWRAP_CONFIG={config} "
                     f"exec {sys.executable} -I {ROOT / 'bin' / 'qemuwrap'} \"$@\"\n")
    where.chmod(0o755)
    return where


def domain_xml(xml: str, name: str, emulator_path: str, images: dict[str, Path]) -> str:
    """A domain of tests/data/libvirt for this test: its name, emulator and images; TCG and
    a plain CPU (this nested KVM refuses host-passthrough with Hyper-V enlightenments)."""
    xml = re.sub(r"<name>[^<]*</name>", f"<name>{name}</name>", xml, count=1)
    xml = re.sub(r"\s*<uuid>[^<]*</uuid>", "", xml, count=1)
    xml = re.sub(r"<emulator>[^<]*</emulator>", f"<emulator>{emulator_path}</emulator>", xml)
    xml = xml.replace("<domain type='kvm'>", "<domain type='qemu'>")
    xml = re.sub(r"<cpu mode='host-passthrough'[^>]*/>",
                 "<cpu mode='custom' match='exact'><model fallback='forbid'>qemu64</model></cpu>",
                 xml)
    xml = re.sub(r"\s*<hyperv.*?</hyperv>", "", xml, flags=re.DOTALL)
    xml = re.sub(r"\s*<timer name='hypervclock'[^>]*/>", "", xml)
    for old, new in images.items():
        xml = xml.replace(old, str(new))
    return xml
