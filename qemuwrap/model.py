"""The guest a command line describes: its devices in creation order, legacy options expanded.

``-drive if=virtio``, ``-drive if=ide``, ``-hda``..``-hdd``, ``-cdrom``, a bare
image, ``-net nic``, ``-nic``, ``-vga`` and ``-device`` become Device records; the
board's defaults (VGA, the NIC added when no network option is given, the empty
CD-ROM at IDE index 2) become explicit devices too, so that they can be pinned.
Everything else stays as the words it was. Nothing here knows of state files.

QEMU creates devices in this order (docs/promises.md), which decides where a device
lands when nothing pins it: the board VGA; NICs of ``-nic``, then of ``-net nic``;
``-device`` options as QemuOpts; the devices of ``-drive if=virtio``; JSON
``-device`` options. IDE drives sit at their ``-drive`` index; an IDE ``-device``
without ``bus=`` goes to the board's last IDE bus (ide.1 on pc, ide.5 on q35:
QEMU searches buses newest first), at the first free unit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qemuwrap import identity, qemuopts
from qemuwrap.cmdline import Token
from qemuwrap.errors import UsageError
from qemuwrap.facts import BinaryFacts
from qemuwrap.machine import CDROM_INDEX, USB_BUS, USB_CONTROLLERS, Layout, UsbRoot
from qemuwrap.options import IMPLIED_KEY
from qemuwrap.qemuopts import Opts
from qemuwrap.schema import SCSI_UNITS, USB_PORT
from qemuwrap.spaces import SPACES, ide, pci

__all__ = [
    "CDROM_OFF_DRIVERS",
    "DRIVE_DEVICE_KEYS",
    "DRIVE_INTERFACES",
    "HELP_CAPABLE",
    "IDE_DRIVERS",
    "NIC_MODELS",
    "QUERY_OPTIONS",
    "SCSI_HBA",
    "USBDEVICE_DRIVERS",
    "VGA_DRIVERS",
    "VGA_MODELS",
    "Device",
    "Guest",
    "Item",
    "MachineOption",
    "build",
    "guest_name",
    "is_query",
    "parse_addr",
    "requested_machine",
    "usb_root",
]

VGA_MODELS = {"std": "VGA", "cirrus": "cirrus-vga", "vmware": "vmware-svga",
              "qxl": "qxl-vga", "virtio": "virtio-vga"}
VGA_DRIVERS = frozenset({"VGA", "isa-vga", "cirrus-vga", "isa-cirrus-vga", "vmware-svga",
                         "qxl-vga", "virtio-vga", "ati-vga", "vhost-user-vga", "virtio-vga-gl"})
"""A ``-device`` of these turns off the board's own VGA (QEMU's ``default_list``)."""
CDROM_OFF_DRIVERS = frozenset({"ide-cd", "ide-hd", "ide-drive", "scsi-cd", "scsi-hd", "scsi-disk"})
"""A ``-device`` of these turns off the default CD-ROM."""
IDE_DRIVERS = ide.DRIVERS
DRIVE_DEVICE_KEYS = {"serial": "serial", "cyls": "cyls", "heads": "heads", "secs": "secs",
                     "trans": "bios-chs-trans"}
"""``-drive`` keys that belong to the device (QEMU 3.0 took them off ``-drive``)."""
SCSI_HBA = "lsi53c895a"
"""The old ``-drive if=scsi`` made an LSI 53C895A per bus, with SCSI ids 0 to 6."""
NIC_MODELS = {"virtio": "virtio-net-pci"}
DRIVE_INTERFACES = frozenset({"ide", "scsi", "floppy", "pflash", "mtd", "sd", "virtio", "none",
                              "xen"})
USBDEVICE_DRIVERS = {"tablet": "usb-tablet", "mouse": "usb-mouse", "keyboard": "usb-kbd",
                     "wacom-tablet": "usb-wacom-tablet"}
QUERY_OPTIONS = frozenset({"h", "help", "version", "dump-vmstate"})
HELP_CAPABLE = frozenset({
    "machine", "M", "cpu", "accel", "device", "drive", "netdev", "nic", "net", "audiodev",
    "audio", "display", "vga", "chardev", "object", "blockdev", "global", "soundhw",
    "watchdog", "usbdevice", "fsdev", "tpmdev", "d", "trace", "smp", "numa", "icount",
    "boot", "m", "rtc", "spice", "vnc", "serial", "parallel", "monitor", "mon", "k",
})


@dataclass
class Device:
    """One device qemuwrap places; ``space`` says which addresses it takes: ``pci`` slots,
    ``ide`` or ``scsi`` units, ``usb`` ports."""

    driver: str
    space: str
    order: tuple[int, ...]
    props: Opts = field(default_factory=Opts)
    """Properties to render, without driver, bus, addr, unit and mac."""
    json: dict[str, Any] | None = None
    """The user's JSON object, without bus and addr, when the device came as JSON."""
    key: str = ""
    bus: str | None = None
    slot: int | None = None
    function: int = 0
    unit: int | None = None
    port: str | None = None
    mac: str | None = None
    nic: bool = False
    drive: Opts | None = None
    """Backend options for a ``-drive if=none`` that qemuwrap writes before the device."""
    drive_id: str | None = None
    before: tuple[str, ...] = ()
    """Words to render before the device (its ``-netdev``)."""
    only_at: tuple[str, int] | None = None
    """The one spot this device may take; if it is taken, QEMU would not create it."""
    raw: tuple[str, ...] | None = None
    """The user's own words, used unchanged when nothing about the device is added."""
    legacy: tuple[str, Opts, str] | None = None
    """For a NIC that is not on PCI: (option, its options, the MAC key); it stays that
    option, with its MAC made explicit."""

    @property
    def user_id(self) -> str | None:
        """The ``id=`` the command line gives the device (for a bridge: its bus's name)."""
        ident = self.props.get("id") if self.json is None else self.json.get("id")
        return None if ident is None else str(ident)

    def own_option(self) -> str:
        """The device's ``-device`` argument without what qemuwrap sets (bus, addr, ...)."""
        if self.json is not None:
            return qemuopts.render_json(self.json)
        return qemuopts.render(Opts((("driver", self.driver), *self.props.pairs)), "driver")

    @property
    def explicit(self) -> bool:
        """The command line gives its place (and, for a NIC, its MAC) itself."""
        return SPACES[self.space].explicit(self) and (self.mac is not None or not self.nic)


@dataclass(frozen=True)
class MachineOption:
    token: Token
    opts: Opts


Item = tuple[str, ...] | int | MachineOption
"""A piece of the output argv: words as they were, a device (by index), or a -machine option."""


@dataclass
class Guest:
    name: str
    machine: str | None
    """The machine type the command line asks for (last ``-machine``), or None."""
    items: list[Item]
    devices: list[Device]
    usb: UsbRoot | None = None
    """The USB bus the devices of space ``usb`` go on."""


def _opts(token: Token) -> Opts:
    assert token.name is not None and token.value is not None
    return qemuopts.parse(token.value, IMPLIED_KEY.get(token.name))


def guest_name(tokens: list[Token]) -> str | None:
    """The guest's name from ``-name`` (merged like QEMU), or None when there is none."""
    name: str | None = None
    for token in tokens:
        if token.name == "name":
            name = _opts(token).get("guest", name)
    return name or None


def requested_machine(tokens: list[Token]) -> str | None:
    machine: str | None = None
    for token in tokens:
        if token.name in ("machine", "M") and token.value is not None:
            machine = _opts(token).get("type", machine)
    return machine


def is_query(tokens: list[Token]) -> bool:
    """True for runs that start no guest: ``-version``, ``-device help``, ``-machine none`` ..."""
    for token in tokens:
        if token.name in QUERY_OPTIONS:
            return True
        value = token.value
        if token.name not in HELP_CAPABLE or value is None or qemuopts.is_json(value):
            continue
        if value.strip() in ("help", "?"):
            return True
        try:
            opts = _opts(token)
        except UsageError:
            continue
        if any(k in ("help", "?") or v in ("help", "?") for k, v in opts.pairs):
            return True
    return requested_machine(tokens) in ("none", "help", "?")


def parse_addr(value: Any) -> tuple[int, int]:
    """A PCI ``addr`` the way QEMU reads it (``spaces.pci.parse_addr``), refused as usage."""
    try:
        return pci.parse_addr(value)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _int(value: str | None, what: str) -> int | None:
    if value is None:
        return None
    try:
        return int(value, 0)
    except ValueError:
        raise UsageError(f"invalid {what}={value}") from None


class _Builder:
    """Walks the tokens once, collecting devices and the output items."""

    def __init__(self, facts: BinaryFacts, layout: Layout, suffix: str) -> None:
        self.facts = facts
        self.layout = layout
        self.suffix = suffix
        """Ends every id qemuwrap makes up: a hot-plug's must differ from the guest's own."""
        self.items: list[Item] = []
        self.devices: list[Device] = []
        self.seq = 0
        self.virtio_index = 0
        self.nodefaults = False
        self.network_given = False
        self.vga_off = False
        self.cdrom_off = False
        self.drive_files: dict[str, str] = {}
        self.usb: UsbRoot | None = None
        """Where qemuwrap places USB devices; None: it does not (see ``usb_root``)."""
        self.usb_flag_given = False
        self.boot_index = 0
        self.scsi_hbas: set[int] = set()
        self.user_ids: set[str] = set()
        self.net_tokens: list[tuple[int, Token, Opts]] = []

    def add(self, device: Device) -> None:
        self.items.append(len(self.devices))
        self.devices.append(device)

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    # -- options -----------------------------------------------------------------------

    def drive(self, token: Token, opts: Opts) -> None:
        interface = opts.get("if", "ide")
        if interface not in DRIVE_INTERFACES:
            raise UsageError(f"unknown drive interface if={interface} in -drive {token.value}")
        if interface == "ide":
            self.ide_drive(token, opts)
        elif interface == "virtio":
            self.virtio_drive(opts)
        elif interface == "scsi":
            self.scsi_drive(token, opts)
        else:
            self.items.append(token.raw)

    def device_side(self, opts: Opts) -> tuple[Opts, Opts]:
        """Split a legacy ``-drive`` into backend options and device properties;
        ``boot=on`` (qemu-kvm's extboot) becomes a bootindex in command-line order."""
        props = [(DRIVE_DEVICE_KEYS[k], v or "on") for k, v in opts.pairs if k in DRIVE_DEVICE_KEYS]
        if opts.get("boot") == "on":
            props.append(("bootindex", str(self.boot_index)))
            self.boot_index += 1
        return opts.without("boot", *DRIVE_DEVICE_KEYS), Opts(tuple(props))

    def scsi_drive(self, token: Token, opts: Opts) -> None:
        """``-drive if=scsi`` (refused on pc and q35 today): an explicit HBA per bus and
        ``scsi-hd``/``scsi-cd`` at a pinned SCSI id."""
        index = _int(opts.get("index"), "index")
        bus, unit = _int(opts.get("bus"), "bus"), _int(opts.get("unit"), "unit")
        if index is not None:
            bus, unit = index // SCSI_UNITS, index % SCSI_UNITS
        bus = bus or 0
        if unit is not None and not 0 <= unit < SCSI_UNITS:
            raise UsageError(f"SCSI unit {unit} out of range in {token.value!r}")
        if bus not in self.scsi_hbas and f"scsi{bus}" not in self.user_ids:
            self.scsi_hbas.add(bus)
            self.add(Device(driver=SCSI_HBA, space="pci", order=(3, self.next_seq()),
                            props=Opts((("id", f"scsi{bus}"),)), key=identity.of_id(f"scsi{bus}")))
        self.scsi_hbas.add(bus)
        backend, props = self.device_side(opts)
        cdrom = opts.get("media") == "cdrom"
        self.add(Device(
            driver="scsi-cd" if cdrom else "scsi-hd", space="scsi", order=(3, self.next_seq()),
            key=_disk_key(opts.get("id"), opts.get("file")), bus=f"scsi{bus}.0", unit=unit,
            props=props, drive=backend.without("if", "index", "bus", "unit", "id"),
            drive_id=opts.get("id")))

    def ide_drive(self, token: Token, opts: Opts) -> None:
        per_bus = sum(1 for bus, _ in self.layout.ide_spots if bus == "ide.0")
        index = _int(opts.get("index"), "index")
        bus, unit = _int(opts.get("bus"), "bus"), _int(opts.get("unit"), "unit")
        if index is None and (bus is not None or unit is not None):
            index = (bus or 0) * per_bus + (unit or 0)
        spot: tuple[str, int] | None = None
        if index is not None:
            if not 0 <= index < len(self.layout.ide_spots):
                raise UsageError(f"IDE drive index {index} out of range in {token.value!r}")
            spot = self.layout.ide_spots[index]
        cdrom = opts.get("media") == "cdrom"
        file = opts.get("file")
        backend, props = self.device_side(opts)
        device = Device(
            driver="ide-cd" if cdrom else "ide-hd", space="ide", order=(0, self.next_seq()),
            key=_disk_key(opts.get("id"), file), props=props,
            bus=spot[0] if spot else None, unit=spot[1] if spot else None,
            drive=backend.without("if", "index", "bus", "unit", "id"), drive_id=opts.get("id"))
        self.add(device)

    def virtio_drive(self, opts: Opts) -> None:
        index = _int(opts.get("index"), "index")
        if index is None:
            index = self.virtio_index
        self.virtio_index = max(self.virtio_index, index + 1)
        addr = opts.get("addr")
        slot, fn = parse_addr(addr) if addr is not None else (None, 0)
        backend, props = self.device_side(opts)
        device = Device(
            driver="virtio-blk-pci", space="pci", order=(3, self.next_seq()),
            key=_disk_key(opts.get("id"), opts.get("file")), slot=slot, function=fn, props=props,
            drive=backend.without("if", "index", "bus", "unit", "id", "addr"),
            drive_id=opts.get("id") or f"virtio{index}{self.suffix}")
        self.add(device)

    def legacy_disk(self, token: Token) -> None:
        """``-hda``..``-hdd``, ``-cdrom`` and a bare image file: drives at fixed IDE indexes."""
        assert token.value is not None
        index = {"hda": 0, "hdb": 1, "hdc": 2, "hdd": 3, "cdrom": 2, None: 0}[token.name]
        pairs: list[tuple[str, str | None]] = [("file", token.value), ("index", str(index))]
        if token.name == "cdrom":
            pairs.append(("media", "cdrom"))
        self.ide_drive(token, Opts(tuple(pairs)))

    def device(self, token: Token) -> None:
        assert token.value is not None
        if qemuopts.is_json(token.value):
            data = qemuopts.parse_json(token.value)
            driver = self.facts.driver(str(data.get("driver", "")))
            props: dict[str, Any] = data
            order = (4, self.next_seq())
        else:
            opts = _opts(token)
            driver = self.facts.driver(opts.get("driver") or "")
            props = {k: v for k, v in opts.pairs}
            order = (2, self.next_seq())
        if driver in VGA_DRIVERS:
            self.vga_off = True
        if driver in CDROM_OFF_DRIVERS:
            self.cdrom_off = True
        bus_type = self.facts.bus_of(driver)
        space = ("pci" if bus_type == "PCI" else "ide" if driver in IDE_DRIVERS else
                 "usb" if bus_type == "usb-bus" and self.usb is not None
                 and props.get("bus") in (None, self.usb.bus) else None)
        if space is None:
            self.items.append(token.raw)
            return
        nic = self.facts.is_nic(driver)
        device = Device(driver=driver, space=space, order=order, nic=nic, raw=token.raw,
                        bus=_str(props.get("bus")), mac=_str(props.get("mac")))
        if space == "pci" and props.get("addr") is not None:
            device.slot, device.function = parse_addr(props["addr"])
        if space == "ide":
            device.unit = _int(_str(props.get("unit")), "unit")
            if device.bus is None:
                device.bus = self.layout.ide_spots[-1][0]
        if space == "usb":
            assert self.usb is not None
            device.port = _str(props.get("port"))
            if device.port is not None and not USB_PORT.fullmatch(device.port):
                raise UsageError(f"invalid USB port={device.port} (a path like 2 or 2.1)")
            device.bus = self.usb.bus if device.port is not None else None
        drop = SPACES[space].place_keys
        if qemuopts.is_json(token.value):
            device.json = {k: v for k, v in props.items() if k not in drop}
        else:
            device.props = _opts(token).without("driver", *drop)
        ident = _str(props.get("id"))
        drive = _str(props.get("drive"))
        device.key = (identity.of_id(ident) if ident else
                      identity.disk(self.drive_files[drive]) if drive in self.drive_files else
                      identity.mac(device.mac) if nic and device.mac else "")
        self.add(device)

    def usbdevice(self, token: Token) -> None:
        """``-usbdevice tablet``: a USB device created before any ``-device``, USB switched on."""
        driver = USBDEVICE_DRIVERS.get(token.value or "")
        if self.usb is None or driver is None:
            self.items.append(token.raw)
            return
        if not self.usb_flag_given:
            self.items.append(("-usb",))
            self.usb_flag_given = True
        self.add(Device(driver=driver, space="usb", order=(1, 9, self.next_seq())))

    def nic(self, token: Token, opts: Opts, order: tuple[int, ...], backend: tuple[str, ...],
            netdev: str | None, mac_key: str) -> Device:
        model = opts.get("model") or self.layout.default_nic
        driver = self.facts.driver(NIC_MODELS.get(model, model))
        mac = opts.get(mac_key)
        props = opts.without("type", "model", mac_key, "addr", "netdev", "name", "id", "vlan")
        if netdev:
            props = Opts((("netdev", netdev),) + props.pairs)
        if opts.get("id") and token.name == "net":
            props = props.with_("id", opts.get("id") or "")
        addr = opts.get("addr")
        slot, fn = parse_addr(addr) if addr is not None else (None, 0)
        return Device(driver=driver, space="pci", order=order, nic=True, props=props, mac=mac,
                      key=identity.mac(mac) if mac else "", slot=slot, function=fn,
                      before=backend)

    def nic_option(self, token: Token, opts: Opts, nth: int) -> None:
        """``-nic TYPE,model=,mac=,...``: a backend of its own and a NIC on it."""
        kind = opts.get("type") or "user"
        model = opts.get("model") or self.layout.default_nic
        if kind == "none":
            self.items.append(token.raw)
            return
        if not self.facts.is_pci(NIC_MODELS.get(model, model)):
            self.add(self.isa_nic("nic", opts, (1, 0, self.next_seq()), ()))
            return
        netdev = opts.get("id") or f"qwnic{nth}{self.suffix}"
        backend_opts = Opts((("type", kind), ("id", netdev))).pairs + opts.without(
            "type", "id", "model", "mac").pairs
        backend = ("-netdev", qemuopts.render(Opts(backend_opts), "type"))
        device_opts = Opts(tuple((k, v) for k, v in opts.pairs if k in ("model", "mac")))
        self.add(self.nic(token, device_opts, (1, 0, self.next_seq()), backend, netdev, "mac"))

    def isa_nic(self, option: str, opts: Opts, order: tuple[int, ...],
                before: tuple[str, ...]) -> Device:
        """A NIC that is not on PCI (``ne2k_isa``) stays a ``-net``/``-nic`` option, with
        its MAC explicit, so that it takes the MAC QEMU would give it and keeps it."""
        mac_key = "mac" if option == "nic" else "macaddr"
        model = opts.get("model") or self.layout.default_nic
        mac = opts.get(mac_key)
        return Device(driver=self.facts.driver(model), space="isa", order=order, nic=True,
                      mac=mac, key=identity.mac(mac) if mac else "", before=before,
                      legacy=(option, opts.without(mac_key, "vlan"), mac_key))

    def pci_nic(self, opts: Opts) -> bool:
        model = opts.get("model") or self.layout.default_nic
        return self.facts.is_pci(NIC_MODELS.get(model, model))

    def net_group(self) -> None:
        """All ``-net`` options at once, one group per hub (the old ``vlan=N``, 0 by default).

        A group of one PCI NIC and at most one backend becomes a plain ``-netdev``
        pair. Otherwise each NIC gets a port on hub N; backends on hub 0 stay as they
        were (a ``-net`` backend joins hub 0), those of another hub become a ``-netdev``
        with a hub port. ``-net dump`` becomes a ``filter-dump`` on the group's first
        NIC. ``vlan=`` was removed in QEMU 3.0, so it is rewritten on every QEMU.
        """
        groups: dict[str, list[tuple[int, Token, Opts]]] = {}
        for entry in self.net_tokens:
            if not entry[2].has("netdev") and entry[2].get("type") != "none":
                groups.setdefault(entry[2].get("vlan") or "0", []).append(entry)
        for i, token, opts in self.net_tokens:
            if opts.get("type") == "nic" and opts.has("netdev"):
                if self.pci_nic(opts):
                    self.place_nic(i, token, opts, opts.get("netdev"), ())
                else:
                    self.place_isa_nic(i, opts, ())
        for vlan, members in groups.items():
            self.hub(vlan, members)

    def place_isa_nic(self, i: int, opts: Opts, before: tuple[str, ...]) -> None:
        self.items[i] = len(self.devices)
        self.devices.append(self.isa_nic("net", opts, (1, 1, i), before))

    def place_nic(self, i: int, token: Token, opts: Opts, netdev: str | None,
                  before: tuple[str, ...]) -> str | None:
        self.items[i] = len(self.devices)
        self.devices.append(self.nic(token, opts, (1, 1, i), before, netdev, "macaddr"))
        return netdev

    def hub(self, vlan: str, members: list[tuple[int, Token, Opts]]) -> None:
        nics = [m for m in members if m[2].get("type") == "nic"]
        dumps = [m for m in members if m[2].get("type") == "dump"]
        backends = [m for m in members if m not in nics and m not in dumps]
        direct = len(nics) == 1 and self.pci_nic(nics[0][2]) and len(backends) <= 1
        first_netdev: str | None = None
        for i, token, opts in nics:
            if direct:
                netdev = f"qwnet{vlan}{self.suffix}" if backends else None
                before: tuple[str, ...] = ()
            else:
                netdev = f"qwhub{i}{self.suffix}"
                before = ("-netdev", f"hubport,id={netdev},hubid={vlan}")
            if self.pci_nic(opts):
                self.place_nic(i, token, opts, netdev, before)
            elif opts.has("vlan") or vlan != "0":
                self.place_isa_nic(i, opts.with_("netdev", netdev or ""), before)
            else:
                self.place_isa_nic(i, opts, ())
            first_netdev = first_netdev or netdev
        for i, _token, opts in backends:
            if not direct and vlan == "0" and not opts.has("vlan"):
                continue
            ident = f"qwnet{vlan}" if direct else f"qwnet{vlan}x{i}"
            ident += self.suffix
            pairs = Opts((("type", opts.get("type")), ("id", ident))).pairs + opts.without(
                "type", "name", "id", "vlan").pairs
            words: tuple[str, ...] = ("-netdev", qemuopts.render(Opts(pairs), "type"))
            if not direct:
                port = f"qwport{vlan}x{i}{self.suffix}"
                words += ("-netdev", f"hubport,id={port},hubid={vlan},netdev={ident}")
            self.items[i] = words
        for i, _token, opts in dumps:
            file = opts.get("file") or f"qemu-vlan{vlan}.pcap"
            if first_netdev is None:
                raise UsageError(f"-net dump on hub {vlan} has no NIC to capture")
            dump: list[tuple[str, str | None]] = [
                ("qom-type", "filter-dump"), ("id", f"qwdump{i}"), ("netdev", first_netdev),
                ("file", file)]
            if opts.has("len"):
                dump.append(("maxlen", opts.get("len")))
            self.items[i] = ("-object", qemuopts.render(Opts(tuple(dump)), "qom-type"))

    def defaults(self) -> None:
        """The devices QEMU adds by itself, made explicit so that they can be pinned."""
        if not self.nodefaults and not self.network_given:
            device = self.nic(Token("net", "", ()), Opts(), (1, 1, 1 << 30),
                              ("-netdev", "user,id=qwnet0"), "qwnet0", "macaddr")
            self.add(device)
        if not self.nodefaults and not self.cdrom_off:
            self.add(Device(driver="ide-cd", space="ide", order=(1, 0), key=identity.BOARD_CDROM,
                            drive=Opts((("media", "cdrom"),)),
                            only_at=self.layout.ide_spots[CDROM_INDEX]))

    def vga(self, model: str | None) -> None:
        if model is None and (self.nodefaults or self.vga_off):
            return
        driver = VGA_MODELS.get(model or "std")
        if driver is not None:
            self.add(Device(driver=driver, space="pci", order=(0, 0), key=identity.BOARD_VGA))

    # -- the walk ------------------------------------------------------------------------

    def build(self, tokens: list[Token]) -> None:
        for token in tokens:
            if token.name == "drive" and token.value is not None:
                opts = _opts(token)
                if opts.get("id") and opts.get("file"):
                    self.drive_files[opts.get("id") or ""] = opts.get("file") or ""
            elif token.name == "nodefaults":
                self.nodefaults = True
            elif token.name == "device" and token.value and not qemuopts.is_json(token.value):
                self.user_ids.add(_opts(token).get("id") or "")
            elif token.name in ("net", "nic", "netdev"):
                self.network_given = True
        self.usb = usb_root(tokens, self.facts, self.layout)
        vga_model: str | None = None
        vga_at: int | None = None
        nics = 0
        for token in tokens:
            name = token.name
            if name in ("machine", "M"):
                self.items.append(MachineOption(token, _opts(token)))
            elif name == "drive":
                self.drive(token, _opts(token))
            elif name in ("hda", "hdb", "hdc", "hdd", "cdrom") or token.is_image:
                self.legacy_disk(token)
            elif name == "device":
                self.device(token)
            elif name == "nic":
                self.nic_option(token, _opts(token), nics)
                nics += 1
            elif name == "net":
                self.net_tokens.append((len(self.items), token, _opts(token)))
                self.items.append(token.raw)
            elif name == "vga":
                vga_model, vga_at = token.value, len(self.items)
                self.items.append(token.raw)
            elif name == "usbdevice":
                self.usbdevice(token)
            elif name == "usb":
                self.usb_flag_given = True
                self.items.append(token.raw)
            else:
                self.items.append(token.raw)
        self.net_group()
        if vga_model in VGA_MODELS and vga_at is not None:
            self.items[vga_at] = ()
        self.vga(vga_model if vga_at is not None else None)
        self.defaults()


def usb_root(tokens: list[Token], facts: BinaryFacts, layout: Layout) -> UsbRoot | None:
    """The bus QEMU puts a USB device on when it names none: the board's controller
    (``-usb``), else the one controller of the user's own (with its default ports).
    None, and USB left as given, where QEMU's choice is not known here: the board's and
    the user's controllers together, several of the user's, one with other ports or a
    companion, a hub of the user's own, a ``-usbdevice`` that cannot be a ``-device``."""
    board = False
    own: list[tuple[str, dict[str, Any]]] = []
    for token in tokens:
        if token.name in ("usb", "usbdevice"):
            board = True
            if token.name == "usbdevice" and token.value not in USBDEVICE_DRIVERS:
                return None
        elif token.name in ("machine", "M") and token.value is not None:
            usb = _opts(token).get("usb")
            board = usb in ("on", "yes", "true") if usb is not None else board
        elif token.name == "device" and token.value is not None:
            props = qemuopts.properties(token.value, IMPLIED_KEY["device"])
            driver = facts.driver(str(props.get("driver", "")))
            category = facts.devices.get(driver, ("", ""))[1]
            if driver == "usb-hub":
                return None
            if category == "USB devices" and facts.is_pci(driver):
                own.append((driver, props))
    if board:
        return None if own else UsbRoot(USB_BUS, layout.usb_ports)
    if len(own) != 1:
        return None
    driver, props = own[0]
    known = USB_CONTROLLERS.get(driver)
    if known is None or any(k in props for k in ("p2", "p3", "num-ports", "masterbus",
                                                 "firstport")):
        return None
    ports, hubs = known
    ident = props.get("id")
    return UsbRoot(f"{ident}.0" if ident else USB_BUS, tuple(range(1, ports + 1)), hubs)


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _disk_key(ident: str | None, file: str | None) -> str:
    if ident:
        return identity.of_id(ident)
    return identity.disk(file) if file else ""


def build(tokens: list[Token], facts: BinaryFacts, layout: Layout, suffix: str = "") -> Guest:
    """The guest ``tokens`` describe, with every device it has in QEMU's creation order;
    ``suffix`` ends the ids of the backends qemuwrap adds (``qwnic0``, ``virtio0``)."""
    builder = _Builder(facts, layout, suffix)
    builder.build(tokens)
    devices = builder.devices
    seen: dict[tuple[str, str], int] = {}
    for device in sorted(devices, key=lambda d: d.order):
        base = ("key", device.key) if device.key else ("driver", device.driver)
        n = seen.get(base, 0)
        seen[base] = n + 1
        if not device.key:
            device.key = identity.ordinal(device.driver, n)
        elif n:
            device.key = identity.twin(device.key, n)
    return Guest(name=guest_name(tokens) or "", machine=requested_machine(tokens),
                 items=builder.items, devices=devices, usb=builder.usb)


