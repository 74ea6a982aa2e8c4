"""qemuwrap as libvirt's emulator: the command line libvirt 9.0 itself wrote, run both ways.

``tests/data/libvirt/*.argv`` is ``virsh domxml-to-native`` output. Here its
host-only parts are swapped for ones a test can run (tap fds for user
networking, the monitor socket and master key dropped, image paths replaced,
``-cpu host`` with Hyper-V flags, which this nested KVM refuses, as qemu64);
the devices, JSON ``-device`` syntax and explicit addresses stay as libvirt
wrote them. libvirt's capability probe is in test_cli.py.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from qemuwrap.cmdline import tokenise

from conftest import Workspace

pytestmark = pytest.mark.qemu
DATA = Path(__file__).parent / "data" / "libvirt"
ARGV = DATA / "lvguest.argv"


def runnable(argv: list[str], root: Path) -> list[str]:
    """libvirt's argv minus what only works under libvirtd (fds, its sockets and key file)."""
    groups = [list(t.raw) for t in tokenise(argv[1:])]
    out: list[str] = []
    for group in groups:
        option, value = group[0], group[1] if len(group) > 1 else ""
        if option == "-mon" or "charmonitor" in value or (option == "-object" and (
                "secret" in value or "memory-backend" in value)):
            continue
        if option == "-cpu":
            value = "qemu64"
        if option == "-netdev":
            value = json.dumps({"type": "user", "id": json.loads(value)["id"]})
        if option == "-machine":
            value = value.replace(",memory-backend=pc.ram", "")
        value = value.replace("/tmp/lv/win.img", "/tmp/lv/a.img").replace(
            "/tmp/lv/win.iso", "/tmp/lv/b.img")
        out += [option, value.replace("/tmp/lv/", f"{root}/")] if len(group) > 1 else [option]
    return out


def test_libvirt_command_line_passes_through_unchanged_in_effect(ws: Workspace) -> None:
    args = runnable(shlex.split(ARGV.read_text()), ws.root)
    assert args[:2] == ["-name", "guest=lvguest,debug-threads=on"]
    plain = ws.plain(args)
    wrapped = ws.wrapped(args)
    assert wrapped.guest_view() == plain.guest_view()
    assert wrapped.pci == plain.pci
    saved = (ws.state / "lvguest.toml").read_text()
    for key in ("id:virtio-disk0", "id:net0", "id:net1", "id:video0", "id:balloon0", "id:usb"):
        assert f'key = "{key}"' in saved


def test_a_windows_style_q35_domain_starts_as_libvirt_wrote_it(ws: Workspace) -> None:
    """virt-install's win10 domain: SATA disk and CD-ROM as JSON ``ide-hd``/``ide-cd``
    without a unit. The unit qemuwrap adds must be a JSON number, or QEMU refuses it
    ("Parameter 'unit' expects uint64")."""
    args = runnable(shlex.split((DATA / "lvwin.argv").read_text()), ws.root)
    plain = ws.plain(args)
    wrapped = ws.wrapped(args)
    assert wrapped.guest_view() == plain.guest_view()
    assert wrapped.pci == plain.pci
    units = {d["driver"]: (d["bus"], d["unit"].split()[0]) for d in wrapped.devices
             if d["driver"] in ("ide-hd", "ide-cd")}
    assert units == {"ide-hd": ("ide.0", "0"), "ide-cd": ("ide.1", "0")}
    saved = (ws.state / "lvwin.toml").read_text()
    for key in ("id:sata0-0-0", "id:sata0-0-1", "id:net0", "id:pci.9", "id:balloon0", "id:rng0"):
        assert f'key = "{key}"' in saved
