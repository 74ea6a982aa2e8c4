"""Thirty old command lines, in the styles of fifteen years, on today's QEMU.

``tests/data/legacy/*.args`` were written for this project after Fedora 12-era
``qemu-kvm`` lines, old libvirt lines (``-net nic,vlan=0``, ``ide-drive``,
``scsi-disk``), quickemu lines, and plain ``-hda``/``-cdrom`` lines. Each one
starts a paused guest on QEMU 7.2 through qemuwrap, and then survives three
mutations with nothing moved: a device added in front, one device removed,
the options shuffled.
"""

from __future__ import annotations

import random
import shlex
from pathlib import Path

import pytest

from qemuwrap.cmdline import tokenise

import guest
from conftest import Workspace

pytestmark = pytest.mark.qemu
CORPUS = Path(__file__).parent / "data" / "legacy"
LINES = sorted(p.stem for p in CORPUS.glob("*.args"))
READCONFIG = ('[drive "disk0"]\n  file = "b.img"\n  if = "virtio"\n  format = "raw"\n\n'
              '[netdev "n0"]\n  type = "user"\n\n[device "nic0"]\n  driver = "e1000"\n'
              '  netdev = "n0"\n')
DEVICE_OPTIONS = ("device", "hda", "hdb", "hdc", "hdd", "cdrom", "drive", "soundhw",
                  "usbdevice", "balloon", "watchdog")


def groups(args: list[str]) -> list[list[str]]:
    return [list(t.raw) for t in tokenise(args)]


def removable(group: list[str], all_args: list[str]) -> bool:
    """A device whose removal leaves a command line QEMU accepts."""
    name = group[0].lstrip("-")
    if not group[0].startswith("-"):
        return True
    if name not in DEVICE_OPTIONS or len(group) < 2 or "if=none" in group[1]:
        return False
    ident = next((p[3:] for p in group[1].split(",") if p.startswith("id=")), None)
    return ident is None or not any(f"bus={ident}" in a or f"drive={ident}" in a
                                    for a in all_args)


def after_their_buses(parts: list[list[str]]) -> list[list[str]]:
    """A shuffle QEMU accepts: a -device naming bus=X stays after the device with id=X."""
    def defines(group: list[str]) -> set[str]:
        return {p[3:] for p in group[-1].split(",") if p.startswith("id=")}

    def needs(group: list[str]) -> set[str]:
        return {p[4:].rsplit(".", 1)[0] for p in group[-1].split(",") if p.startswith("bus=")}

    out = list(parts)
    for _ in range(len(out)):
        for i, group in enumerate(out):
            later = [j for j in range(i + 1, len(out)) if needs(group) & defines(out[j])]
            if later and group[0] == "-device":
                out.insert(later[-1], out.pop(i))
                break
        else:
            break
    return out


def mutations(args: list[str]) -> dict[str, list[str]]:
    parts = groups(args)
    shuffled = parts[:]
    random.Random(len(args)).shuffle(shuffled)
    if "-readconfig" in args:
        removed = [a.replace("vm.cfg", "vm-fewer.cfg") for a in args]
    else:
        last = max(i for i, g in enumerate(parts) if removable(g, args))
        removed = [w for i, g in enumerate(parts) if i != last for w in g]
    return {
        "device-added-in-front": ["-device", "virtio-serial-pci", *args],
        "device-removed": removed,
        "shuffled": [w for g in after_their_buses(shuffled) for w in g],
    }


def where(topo: guest.Topology) -> dict[str, list[str]]:
    """Every device the guest sees on a PCI, IDE, SCSI or USB bus, by driver."""
    out: dict[str, list[str]] = {}
    for dev in topo.devices:
        spot = dev.get("addr") or dev.get("usbport") or dev.get("scsi-id") or dev.get("unit")
        if spot and dev["path"].split("/")[-1].split(".")[0] in ("pci", "pcie", "ide",
                                                                 "usb-bus", "scsi0"):
            out.setdefault(dev["driver"], []).append(f"{dev['path']}@{spot}")
    return {k: sorted(v) for k, v in out.items()}


@pytest.mark.parametrize("line", LINES)
def test_old_command_line_survives_mutations(ws: Workspace, line: str) -> None:
    (ws.root / "vm.cfg").write_text(READCONFIG)
    (ws.root / "vm-fewer.cfg").write_text(READCONFIG.split("[device")[0])
    args = ["-name", "old", *shlex.split((CORPUS / f"{line}.args").read_text())]
    first = ws.wrapped(args)
    base_ids, base_where = first.identified(), where(first)
    assert base_where, "the guest has devices"
    for label, mutated in mutations(args).items():
        later = ws.wrapped(mutated)
        for ident, seen in base_ids.items():
            if ident in later.identified():
                assert later.identified()[ident] == seen, (label, ident)
        now = where(later)
        for driver, places in base_where.items():
            if label == "device-removed" and len(now.get(driver, [])) < len(places):
                continue
            assert set(places) <= set(now.get(driver, [])), (label, driver)
