"""The devices QEMU adds by itself (the VGA, the NIC of a line without network options,
the empty CD-ROM), made explicit so that they can be pinned."""

from __future__ import annotations

from qemuwrap import identity
from qemuwrap.cmdline import Token
from qemuwrap.frontends.nics import Nics
from qemuwrap.machine import CDROM_INDEX
from qemuwrap.model import Device, Phase
from qemuwrap.qemuopts import Opts

__all__ = ["LAST", "VGA_MODELS", "Board"]

VGA_MODELS = {"std": "VGA", "cirrus": "cirrus-vga", "vmware": "vmware-svga",
              "qxl": "qxl-vga", "virtio": "virtio-vga"}
LAST = 1 << 30
"""After every NIC of the command line: the default NIC."""


class Board(Nics):
    """The board's own devices (its default NIC is one like ``-net nic``'s)."""

    def defaults(self) -> None:
        """The devices QEMU adds by itself, made explicit so that they can be pinned."""
        if not self.nodefaults and not self.network_given:
            device = self.nic(Token("net", "", ()), Opts(), (Phase.NET_NICS, LAST),
                              ("-netdev", "user,id=qwnet0"), "qwnet0", "macaddr")
            self.add(device)
        if not self.nodefaults and not self.cdrom_off:
            self.add(Device(driver="ide-cd", space="ide", order=(Phase.BOARD_CDROM, 0),
                            key=identity.BOARD_CDROM, drive=Opts((("media", "cdrom"),)),
                            only_at=self.layout.ide_spots[CDROM_INDEX]))

    def vga(self, model: str | None) -> None:
        if model is None and (self.nodefaults or self.vga_off):
            return
        driver = VGA_MODELS.get(model or "std")
        if driver is not None:
            self.add(Device(driver=driver, space="pci", order=(Phase.BOARD_VGA, 0),
                            key=identity.BOARD_VGA))
