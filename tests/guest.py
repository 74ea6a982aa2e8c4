"""Start a real QEMU (or qemuwrap in front of it) paused, and read what the guest would see.

The topology is taken from ``query-pci`` and ``info qtree`` over QMP and reduced
to what a guest can observe: bus path, slot.function, PCI ids, MACs, IDE bus and
unit, disk serials. Names that only the host sees (qdev ids, netdev and drive
names) are left out, so a wrapped and a plain launch can be compared.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from qemu.qmp.legacy import QEMUMonitorProtocol

from qemuwrap.qtree import parse as qtree_parse

QEMU = os.environ.get("QEMUWRAP_TEST_QEMU", "qemu-system-x86_64")
QEMU_PATH = shutil.which(QEMU) or QEMU


def accel() -> str:
    """KVM where this process may open /dev/kvm, else TCG."""
    try:
        fd = os.open("/dev/kvm", os.O_RDWR)
    except OSError:
        return "tcg"
    os.close(fd)
    return "kvm"


@dataclass
class Topology:
    pci: list[tuple[Any, ...]] = field(default_factory=list)
    devices: list[dict[str, str]] = field(default_factory=list)
    qtree: str = ""
    argv: list[str] = field(default_factory=list)
    machine: str = ""
    drives: dict[str, str] = field(default_factory=dict)
    """Drive name to the image file it has (``query-block``)."""

    def by_driver(self, driver: str) -> list[dict[str, str]]:
        return [d for d in self.devices if d["driver"] == driver]

    def guest_view(self) -> list[tuple[str, ...]]:
        """Everything a guest can tell apart, sorted: one tuple per device.

        A USB device's ``port`` property is what was asked for; ``usbport`` is where
        it is attached, which is what the guest sees.
        """
        keep = ("addr", "pciid", "mac", "unit", "serial", "usbport", "port", "chassis_nr",
                "chassis", "slot")
        rows = []
        for dev in self.devices:
            shown = [k for k in keep if k in dev and not (k == "port" and "usbport" in dev)]
            rows.append((dev["path"], dev["driver"], *(f"{k}={dev[k]}" for k in shown)))
        return sorted(rows)


    def identified(self) -> dict[str, tuple[str, ...]]:
        """What the guest sees of each disk (by image name) and NIC (by MAC).

        The value holds the device's own place (bus path, PCI address or IDE unit,
        serial) and, for a virtio child, the PCI function that carries it.
        """
        out: dict[str, tuple[str, ...]] = {}
        for dev in self.devices:
            if dev.get("drive") in self.drives:
                ident = "disk:" + os.path.basename(self.drives[dev["drive"]])
            elif dev.get("mac"):
                ident = "mac:" + dev["mac"]
            else:
                continue
            anchor = dev
            while "pciid" not in anchor and int(anchor["parent"]) >= 0 and "unit" not in anchor:
                anchor = self.devices[int(anchor["parent"])]
            out[ident] = (dev["path"], dev["driver"], dev.get("unit", ""), dev.get("serial", ""),
                          anchor["path"], anchor.get("addr", ""), anchor.get("pciid", ""))
        return out

    def addr_of(self, driver: str) -> list[str]:
        """Where each device of ``driver`` sits: ``bus path @ slot.function``."""
        return sorted(f"{d['path']}@{d.get('addr', d.get('unit', d.get('usbport', '')))}"
                      for d in self.by_driver(driver))


def numbered(pci: list[dict[str, Any]]) -> bool:
    """Whether the firmware has given every bridge's secondary bus a number."""
    for bus in pci:
        for dev in bus["devices"]:
            bridge = dev.get("pci_bridge")
            if bridge and (bridge["bus"]["secondary"] in (0, 255)
                           or not numbered([{"devices": bridge.get("devices", [])}])):
                return False
    return True


def firmware_pci(qmp: QEMUMonitorProtocol, timeout: float) -> list[dict[str, Any]]:
    """``query-pci`` once the firmware (SeaBIOS, no OS needed) has numbered the buses: the
    same numbers read twice, since it passes through others (255) while it scans."""
    qmp.cmd("cont")
    deadline = time.monotonic() + timeout
    last: list[dict[str, Any]] | None = None
    while True:
        pci: list[dict[str, Any]] = qmp.cmd("query-pci")
        if (numbered(pci) and pci == last) or time.monotonic() > deadline:
            return pci
        last = pci
        time.sleep(0.2)


def launch(prefix: Sequence[str], args: Sequence[str], env: dict[str, str] | None = None,
           cwd: str | None = None, timeout: float = 30, run: bool = False) -> Topology:
    """Run ``prefix + args`` paused with a QMP socket, read its topology, then quit it.
    With ``run``, the guest runs until the firmware has numbered the PCI buses, and
    ``query-pci`` is read then (bus numbers behind bridges are 0 before)."""
    with tempfile.TemporaryDirectory(prefix="qw-qmp-") as tmp:
        sock = os.path.join(tmp, "qmp.sock")
        qmp = QEMUMonitorProtocol(sock, server=True)
        argv = [*prefix, *args, "-S", "-display", "none", "-accel", accel(),
                "-qmp", f"unix:{sock}"]
        full_env = dict(os.environ if env is None else env)
        full_env["QEMU_AUDIO_DRV"] = "none"
        proc = subprocess.Popen(argv, env=full_env, cwd=cwd, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            try:
                qmp.accept(timeout)
                pci = firmware_pci(qmp, timeout) if run else qmp.cmd("query-pci")
                topo = read(qmp, argv, pci)
                qmp.cmd("quit")
            except Exception as exc:
                proc.kill()
                out, err = proc.communicate(timeout=timeout)
                raise RuntimeError(f"{argv} failed ({exc!r}): {err.decode()}{out.decode()}"
                                   ) from None
        finally:
            with contextlib.suppress(EOFError, OSError):
                qmp.close()  # QEMU may hang up first after "quit"
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return topo


def read(qmp: QEMUMonitorProtocol, argv: list[str],
         pci: list[dict[str, Any]] | None = None) -> Topology:
    """What the guest of a running QEMU would see, over its QMP connection."""
    pci = qmp.cmd("query-pci") if pci is None else pci
    qtree = qmp.cmd("human-monitor-command", **{"command-line": "info qtree"})
    block = qmp.cmd("query-block")
    machine = qmp.cmd("qom-get", path="/machine", property="type")
    topo = Topology(qtree=str(qtree), argv=argv, machine=str(machine).removesuffix("-machine"))
    topo.drives = {b["device"]: b["inserted"]["file"] for b in block
                   if b.get("device") and "inserted" in b}
    for bus in pci:
        _collect_pci(bus, topo.pci, "")
    topo.pci.sort()
    topo.devices = qtree_parse(str(qtree))
    return topo


def _collect_pci(bus: dict[str, Any], out: list[tuple[Any, ...]], parent: str) -> None:
    for dev in bus["devices"]:
        out.append((parent, bus["bus"], dev["slot"], dev["function"],
                    dev["id"]["vendor"], dev["id"]["device"],
                    dev["id"].get("subsystem-vendor"), dev["id"].get("subsystem"),
                    dev["class_info"]["class"]))
        bridge = dev.get("pci_bridge")
        if bridge and "devices" in bridge:
            _collect_pci({"bus": bridge["bus"]["secondary"], "devices": bridge["devices"]}, out,
                         f"{parent}/{dev['slot']:02x}.{dev['function']}")


def plain(args: Sequence[str], **kw: Any) -> Topology:
    return launch([QEMU], args, **kw)
