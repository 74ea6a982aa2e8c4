"""contrib/alternatives for real: qemuwrap becomes qemu-kvm, pins a guest, and goes away again.

Needs root (update-alternatives writes /usr/bin and /etc); CI runs as root.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

import guest
from conftest import ROOT, Workspace

pytestmark = pytest.mark.qemu
SCRIPT = ROOT / "contrib" / "alternatives" / "qemuwrap-alternatives"
LINK = Path("/usr/bin/qemu-kvm")
CONFIG = Path("/etc/qemuwrap/config.toml")


def link_state() -> tuple[bool, str | None]:
    return LINK.exists() or LINK.is_symlink(), os.path.realpath(LINK) if LINK.exists() else None


def test_install_use_and_remove_the_qemu_kvm_alternative(ws: Workspace) -> None:
    assert os.geteuid() == 0, "this test installs an alternative and needs root"
    before, config_before = link_state(), CONFIG.exists()
    env = {k: v for k, v in ws.env().items() if k not in ("QEMUWRAP_QEMU", "QEMUWRAP_CONFIG")}
    try:
        subprocess.run([str(SCRIPT), "install"], check=True, env=env, capture_output=True)
        assert LINK.is_symlink() and os.path.realpath(LINK).endswith("qemuwrap")
        if not config_before:
            assert f'qemu = "{guest.QEMU_PATH}"' in CONFIG.read_text()
        qmp = ('{"execute":"qmp_capabilities"}\n{"execute":"query-kvm"}\n'
               '{"execute":"query-pci"}\n{"execute":"quit"}\n')
        accel = [] if guest.accel() == "kvm" else ["-accel", "tcg"]
        done = subprocess.run(
            ["qemu-kvm", "-name", "alt", *accel, "-S", "-display", "none", "-qmp", "stdio",
             "-drive", f"file={ws.root}/a.img,if=virtio,format=raw"],
            env=env, input=qmp, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        replies = [json.loads(line) for line in done.stdout.splitlines()]
        kvm = next(r["return"] for r in replies if "enabled" in str(r.get("return")))
        assert kvm["enabled"] == (guest.accel() == "kvm")
        pci = next(r["return"] for r in replies if isinstance(r.get("return"), list))
        slots = {d["slot"]: (d["id"]["vendor"], d["id"]["device"]) for d in pci[0]["devices"]}
        assert slots[4] == (0x1AF4, 0x1001), "the virtio disk sits where plain QEMU puts it"
        saved = (ws.state / "alt.toml").read_text()
        assert f'key = "disk:{ws.root}/a.img"' in saved and "slot = 4" in saved
    finally:
        subprocess.run([str(SCRIPT), "remove"], check=False, env=env, capture_output=True)
    assert link_state() == before
    assert CONFIG.exists() == config_before
