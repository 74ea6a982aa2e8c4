"""``-drive`` (``if=ide``, ``virtio``, ``scsi``), ``-hda``..``-hdd``, ``-cdrom`` and a bare
image: a ``-drive if=none`` backend and the device the old option stood for."""

from __future__ import annotations

from qemuwrap import identity
from qemuwrap.cmdline import Token
from qemuwrap.errors import UsageError
from qemuwrap.frontends.context import Context, disk_key, int_of
from qemuwrap.model import Device, Phase, parse_addr
from qemuwrap.qemuopts import Opts
from qemuwrap.schema import SCSI_UNITS

__all__ = ["DRIVE_DEVICE_KEYS", "DRIVE_INTERFACES", "SCSI_HBA", "Drives"]

DRIVE_DEVICE_KEYS = {"serial": "serial", "cyls": "cyls", "heads": "heads", "secs": "secs",
                     "trans": "bios-chs-trans"}
"""``-drive`` keys that belong to the device (QEMU 3.0 took them off ``-drive``)."""
SCSI_HBA = "lsi53c895a"
"""The old ``-drive if=scsi`` made an LSI 53C895A per bus, with SCSI ids 0 to 6."""
DRIVE_INTERFACES = frozenset({"ide", "scsi", "floppy", "pflash", "mtd", "sd", "virtio", "none",
                              "xen"})


class Drives(Context):
    """``-drive`` and the options that stand for one."""

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
        index = int_of(opts.get("index"), "index")
        bus, unit = int_of(opts.get("bus"), "bus"), int_of(opts.get("unit"), "unit")
        if index is not None:
            bus, unit = index // SCSI_UNITS, index % SCSI_UNITS
        bus = bus or 0
        if unit is not None and not 0 <= unit < SCSI_UNITS:
            raise UsageError(f"SCSI unit {unit} out of range in {token.value!r}")
        if bus not in self.scsi_hbas and f"scsi{bus}" not in self.user_ids:
            self.scsi_hbas.add(bus)
            self.add(Device(driver=SCSI_HBA, space="pci", order=self.at(Phase.DRIVE_DEVICES),
                            props=Opts((("id", f"scsi{bus}"),)), key=identity.of_id(f"scsi{bus}")))
        self.scsi_hbas.add(bus)
        backend, props = self.device_side(opts)
        cdrom = opts.get("media") == "cdrom"
        self.add(Device(
            driver="scsi-cd" if cdrom else "scsi-hd", space="scsi",
            order=self.at(Phase.DRIVE_DEVICES),
            key=disk_key(opts.get("id"), opts.get("file")), bus=f"scsi{bus}.0", unit=unit,
            props=props, drive=backend.without("if", "index", "bus", "unit", "id"),
            drive_id=opts.get("id")))

    def ide_drive(self, token: Token, opts: Opts) -> None:
        per_bus = sum(1 for bus, _ in self.layout.ide_spots if bus == "ide.0")
        index = int_of(opts.get("index"), "index")
        bus, unit = int_of(opts.get("bus"), "bus"), int_of(opts.get("unit"), "unit")
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
            driver="ide-cd" if cdrom else "ide-hd", space="ide", order=self.at(Phase.IDE_DRIVES),
            key=disk_key(opts.get("id"), file), props=props,
            bus=spot[0] if spot else None, unit=spot[1] if spot else None,
            drive=backend.without("if", "index", "bus", "unit", "id"), drive_id=opts.get("id"))
        self.add(device)

    def virtio_drive(self, opts: Opts) -> None:
        index = int_of(opts.get("index"), "index")
        if index is None:
            index = self.virtio_index
        self.virtio_index = max(self.virtio_index, index + 1)
        addr = opts.get("addr")
        slot, fn = parse_addr(addr) if addr is not None else (None, 0)
        backend, props = self.device_side(opts)
        device = Device(
            driver="virtio-blk-pci", space="pci", order=self.at(Phase.DRIVE_DEVICES),
            key=disk_key(opts.get("id"), opts.get("file")), slot=slot, function=fn, props=props,
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
