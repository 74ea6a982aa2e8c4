"""USB: where QEMU puts a USB device that names no bus, and ``-usbdevice``."""

from __future__ import annotations

from qemuwrap import qemuopts
from qemuwrap.cmdline import Token
from qemuwrap.facts import BinaryFacts
from qemuwrap.frontends.context import Context
from qemuwrap.machine import USB_BUS, USB_CONTROLLERS, Layout, UsbRoot
from qemuwrap.model import Device, Phase, opts_of
from qemuwrap.options import IMPLIED_KEY

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["USBDEVICE_DRIVERS", "Usb", "usb_root"]

USBDEVICE_DRIVERS = {"tablet": "usb-tablet", "mouse": "usb-mouse", "keyboard": "usb-kbd",
                     "wacom-tablet": "usb-wacom-tablet"}


class Usb(Context):
    """``-usbdevice``."""

    def usbdevice(self, token: Token) -> None:
        """``-usbdevice tablet``: a USB device created before any ``-device``, USB switched on."""
        driver = USBDEVICE_DRIVERS.get(token.value or "")
        if self.usb is None or driver is None:
            self.items.append(token.raw)
            return
        if not self.usb_flag_given:
            self.items.append(("-usb",))
            self.usb_flag_given = True
        self.add(Device(driver=driver, space="usb", order=self.at(Phase.USBDEVICE)))


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
            usb = opts_of(token).get("usb")
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
