"""The argv QEMU gets: the user's words where nothing changed, explicit devices elsewhere.

Every placed device becomes ``-device DRIVER,...,bus=,addr=`` (or ``unit=``) with
its MAC, behind its ``-drive if=none`` or ``-netdev``; bridges qemuwrap added
come before the first device so that their buses exist; the machine type is
the pinned one.
"""

from __future__ import annotations

from qemuwrap import qemuopts
from qemuwrap.model import Device, Guest, MachineOption
from qemuwrap.options import IMPLIED_KEY
from qemuwrap.pinning import Plan
from qemuwrap.qemuopts import Opts
from qemuwrap.spaces import SPACES, Placement
from qemuwrap.spaces.pci import PCI
from qemuwrap.state import Pin

__all__ = ["JSON_NUMBERS", "bridge_words", "device_words", "drive_id", "machine_words",
           "render"]

JSON_NUMBERS = frozenset({"unit", "scsi-id", "lun"})
"""Properties QEMU's schema types as integers: in a JSON ``-device`` they must be JSON
numbers (``"unit": "0"`` is refused: "Parameter 'unit' expects uint64")."""


def bridge_words(pin: Pin, as_json: bool = False) -> list[str]:
    """``as_json`` for a hub among JSON devices: QEMU creates those after all others."""
    if pin.options is not None:
        assert pin.slot is not None
        place = tuple(PCI.props(Placement(pin.bus, pin.slot, pin.function or 0)))
        if qemuopts.is_json(pin.options):
            return ["-device", qemuopts.render_json({**qemuopts.parse_json(pin.options),
                                                     **dict(place)})]
        options = qemuopts.parse(pin.options, "driver").pairs + place
        return ["-device", qemuopts.render(Opts(options), "driver")]
    if pin.port is not None:
        if as_json:
            return ["-device", qemuopts.render_json({"driver": "usb-hub", "bus": pin.bus,
                                                     "port": pin.port})]
        return ["-device", f"usb-hub,bus={pin.bus},port={pin.port}"]
    assert pin.slot is not None and pin.provides is not None
    pairs = [("driver", pin.driver), ("id", pin.provides)]
    if pin.driver == "pci-bridge":
        pairs.append(("chassis_nr", str(pin.chassis)))
    elif pin.driver == "pcie-root-port":
        pairs.append(("chassis", str(pin.chassis)))
    pairs += PCI.props(Placement(pin.bus, pin.slot, pin.function or 0))
    return ["-device", qemuopts.render(Opts(tuple(pairs)), "driver")]


def drive_id(device: Device, where: Placement) -> str:
    """QEMU's own name for a legacy drive (``ide0-hd0``), so monitor commands still work."""
    if device.drive_id:
        return device.drive_id
    return SPACES[device.space].drive_name(where, "cd" if device.driver.endswith("-cd") else "hd")


def device_words(device: Device, where: Placement) -> list[str]:
    words = list(device.before)
    if device.legacy is not None:
        option, opts, mac_key = device.legacy
        if where.mac is not None:
            opts = opts.with_(mac_key, where.mac)
        return words + [f"-{option}", qemuopts.render(opts, IMPLIED_KEY[option])]
    extra: list[tuple[str, str]] = []
    if device.drive is not None:
        ident = drive_id(device, where)
        backend = Opts((("if", "none"), ("id", ident)) + device.drive.pairs)
        words += ["-drive", qemuopts.render(backend)]
        extra.append(("drive", ident))
    if device.raw is not None and device.explicit:
        return words + list(device.raw)
    if where.mac is not None and device.nic:
        extra.append(("mac", where.mac))
    extra += SPACES[device.space].props(where)
    if device.json is not None:
        typed = {k: int(v) if k in JSON_NUMBERS else v for k, v in extra}
        return words + ["-device", qemuopts.render_json({**device.json, **typed})]
    opts = Opts((("driver", device.driver),) + device.props.pairs + tuple(extra))
    return words + ["-device", qemuopts.render(opts, "driver")]


def machine_words(option: MachineOption, machine: str, last: bool) -> list[str]:
    if not last or option.opts.get("type") == machine:
        return list(option.token.raw)
    value = qemuopts.render(option.opts.with_("type", machine), "type")
    return [option.token.raw[0], value]


def _first_devices(guest: Guest, plan: Plan) -> tuple[int, int, bool]:
    """Where the added bridges go (item indexes) and whether the hubs go as JSON.

    PCI bridges before the first device, USB hubs before the USB device QEMU creates
    first (after the controller, when it is the user's own): their buses then exist.
    QEMU creates ``-device`` options in order, and the JSON ones after all others."""
    placed = [(i, guest.devices[item]) for i, item in enumerate(guest.items)
              if isinstance(item, int) and item in plan.placements]
    placed_usb = [(i, d) for i, d in placed if d.space == "usb"]
    usb = next((p for p in placed_usb if p[1].json is None), next(iter(placed_usb), None))
    end = len(guest.items)
    return (placed[0][0] if placed else end, usb[0] if usb else end,
            usb is not None and usb[1].json is not None)


def render(guest: Guest, plan: Plan) -> list[str]:
    """The argv (without the program name) for the real QEMU."""
    typed = [i for i, item in enumerate(guest.items)
             if isinstance(item, MachineOption) and item.opts.has("type")]
    pci_item, usb_item, usb_json = _first_devices(guest, plan)
    out: list[str] = []
    at: dict[str, int] = {}
    for i, item in enumerate(guest.items):
        at.update({kind: len(out) for kind, where in (("pci", pci_item), ("usb", usb_item))
                   if where == i})
        if isinstance(item, MachineOption):
            out += machine_words(item, plan.machine, bool(typed) and i == typed[-1])
        elif isinstance(item, int):
            if item in plan.placements:
                out += device_words(guest.devices[item], plan.placements[item])
            elif item not in plan.left_out:
                out += list(guest.devices[item].raw or ())
        else:
            out += list(item)
    # A bridge kept on a bus that one of the line's own devices provides goes after it.
    user_buses = {d.user_id for d in guest.devices if d.user_id}
    last = [w for pin in plan.bridges if pin.bus in user_buses for w in bridge_words(pin)]
    for kind in ("usb", "pci"):  # the later position first: the earlier one stays valid
        words = [w for pin in plan.bridges if (pin.port is not None) == (kind == "usb")
                 and pin.bus not in user_buses
                 for w in bridge_words(pin, kind == "usb" and usb_json)]
        position = at.get(kind, len(out))
        out[position:position] = words
    out += last
    if not typed:
        out += ["-machine", plan.machine]
    return out
