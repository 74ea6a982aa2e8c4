"""Machine types: resolving ``pc``/``q35``/default to a versioned name, and each family's board.

The board layout is what QEMU builds before any option's device: which PCI slots
are taken (host bridge, PIIX/ICH9 functions), where devices start, and the IDE
(or AHCI) ports that ``-drive`` indexes map to. Measured on QEMU 7.2 with
``query-pci``; see docs/promises.md.
"""

import re
from dataclasses import dataclass

from qemuwrap.errors import ConflictError, MachineError
from qemuwrap.facts import BinaryFacts

__all__ = [
    "CDROM_INDEX",
    "HUB_PORTS",
    "PC",
    "Q35",
    "USB_BUS",
    "USB_CONTROLLERS",
    "Layout",
    "UsbRoot",
    "closest_offered",
    "family",
    "layout",
    "resolve",
]


@dataclass(frozen=True)
class Layout:
    family: str
    root_bus: str
    root_slots: tuple[int, ...]
    """Slots the board leaves for devices, in QEMU's order of handing them out."""
    ide_spots: tuple[tuple[str, int], ...]
    """(bus, unit) for ``-drive`` index 0, 1, 2, ...; index 2 is the default CD-ROM."""
    usb_ports: tuple[int, ...]
    """Root ports of the board's USB controller (``-usb``): UHCI on pc, EHCI on q35."""
    default_nic: str
    bridge_chain: tuple[str, ...]
    """Devices that turn one root slot into a bus with room for more devices."""


PC = Layout(
    family="pc",
    root_bus="pci.0",
    root_slots=tuple(range(2, 32)),
    ide_spots=(("ide.0", 0), ("ide.0", 1), ("ide.1", 0), ("ide.1", 1)),
    usb_ports=(1, 2),
    default_nic="e1000",
    bridge_chain=("pci-bridge",),
)

Q35 = Layout(
    family="q35",
    root_bus="pcie.0",
    root_slots=tuple(s for s in range(1, 0x1F) if s != 0x1D),
    ide_spots=tuple((f"ide.{i}", 0) for i in range(6)),
    usb_ports=tuple(range(1, 7)),
    default_nic="e1000e",
    bridge_chain=("pcie-root-port", "pcie-pci-bridge"),
)

CDROM_INDEX = 2
USB_BUS = "usb-bus.0"
"""The first USB bus of a controller without ``id=`` (the board's, say); with an id it is ID.0."""
HUB_PORTS = tuple(range(1, 9))


@dataclass(frozen=True)
class UsbRoot:
    """The USB bus qemuwrap places devices on."""

    bus: str
    ports: tuple[int, ...]
    hubs: bool = True
    """QEMU's rule: a device that would take the last free port gets a usb-hub there.
    Not on EHCI alone: its ports are high-speed only, the hub full-speed, so none attaches."""


USB_CONTROLLERS: dict[str, tuple[int, bool]] = {
    **{d: (2, True) for d in ("piix3-usb-uhci", "piix4-usb-uhci", "vt82c686b-usb-uhci",
                              *(f"ich9-usb-uhci{n}" for n in range(1, 7)))},
    "pci-ohci": (3, True),
    "qemu-xhci": (4, True),
    "nec-usb-xhci": (4, True),
    **{d: (6, False) for d in ("usb-ehci", "ich9-usb-ehci1", "ich9-usb-ehci2")},
}
"""A USB controller of the user's own, with its default properties: (root ports, hubs).
Measured on QEMU 7.2 from ``info qtree`` (xhci: max(p2, p3) ports, 4 of each)."""


def family(machine: str) -> str | None:
    """``pc`` or ``q35`` for the machines qemuwrap manages, None for any other."""
    if machine == "pc" or machine.startswith("pc-i440fx-") or re.fullmatch(r"pc-\d.*", machine):
        return "pc"
    if machine == "q35" or machine.startswith("pc-q35-"):
        return "q35"
    return None


def layout(machine: str) -> Layout | None:
    return {"pc": PC, "q35": Q35}.get(family(machine) or "")


def _version(machine: str) -> tuple[int, ...]:
    m = re.search(r"(\d+(?:\.\d+)*)$", machine)
    return tuple(int(p) for p in m.group(1).split(".")) if m else ()


def closest_offered(machine: str, facts: BinaryFacts) -> str | None:
    """The oldest same-family machine at or after ``machine``, else the newest before it."""
    fam = family(machine)
    same = sorted((m for m, target in facts.machines.items()
                   if m == target and family(m) == fam and _version(m)), key=_version)
    later = [m for m in same if _version(m) >= _version(machine)]
    if later:
        return later[0]
    return same[-1] if same else None


def resolve(requested: str | None, facts: BinaryFacts, pinned: str | None) -> str:
    """The versioned machine to launch: the pinned one unless the user names another version.

    ``pc``, ``q35`` and no ``-machine`` at all are aliases whose meaning changes
    with QEMU upgrades: they resolve once and the result is pinned. A versioned
    name on the command line is the user's explicit choice and replaces the pin.
    """
    name = requested or facts.default_machine
    if name not in facts.machines:
        raise MachineError(_not_offered(name, facts))
    target = facts.machines[name]
    explicit = requested is not None and target == requested
    if pinned is None:
        return target
    if family(target) != family(pinned):
        raise ConflictError(
            f"guest is pinned to machine {pinned} but the command line asks for {name} "
            f"({target}), a different board; name {pinned} or forget the guest's state")
    if explicit:
        return target
    if pinned not in facts.machines:
        raise MachineError(_not_offered(pinned, facts, pinned=True))
    return pinned


def _not_offered(name: str, facts: BinaryFacts, pinned: bool = False) -> str:
    what = "pinned machine" if pinned else "machine"
    closest = closest_offered(name, facts)
    hint = f"; the closest offered is {closest}" if closest else ""
    return f"{what} {name} is not offered by this QEMU{hint}"
