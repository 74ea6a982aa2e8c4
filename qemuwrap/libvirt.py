"""Seeding a guest's state from a libvirt domain XML (``virsh dumpxml``).

A guest leaving libvirt keeps its hardware: the machine type, every
``<address type='pci'/>``, the IDE/SATA units of its disks and its MACs become
pins under the keys qemuwrap's own command lines will produce (disk paths,
MACs, the board's VGA, driver ordinals).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime

from qemuwrap import identity
from qemuwrap.errors import StateError
from qemuwrap.machine import family
from qemuwrap.state import GuestState, Pin

__all__ = ["BRIDGE_MODELS", "NIC_MODELS", "SIMPLE", "VIDEO_MODELS", "domain_state"]

NIC_MODELS = {"virtio": "virtio-net-pci", "e1000": "e1000", "e1000e": "e1000e",
              "rtl8139": "rtl8139", "vmxnet3": "vmxnet3", "ne2k_pci": "ne2k_pci"}
VIDEO_MODELS = {"vga": "VGA", "cirrus": "cirrus-vga", "qxl": "qxl-vga", "virtio": "virtio-vga",
                "vmvga": "vmware-svga", "bochs": "bochs-display"}
BRIDGE_MODELS = {"pci-bridge": "pci-bridge", "pcie-root-port": "pcie-root-port",
                 "pcie-to-pci-bridge": "pcie-pci-bridge", "dmi-to-pci-bridge": "i82801b11-bridge"}
SIMPLE = {"memballoon": {"virtio": "virtio-balloon-pci"}, "rng": {"virtio": "virtio-rng-pci"},
          "watchdog": {"i6300esb": "i6300esb"},
          "sound": {"ich6": "intel-hda", "ich9": "ich9-intel-hda", "ac97": "AC97",
                    "es1370": "ES1370"}}


def _int(value: str | None) -> int:
    return int(value or "0", 0)


def domain_state(text: str, source: str, now: datetime) -> GuestState:
    """The qemuwrap state equivalent to a libvirt domain's devices."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise StateError(f"{source}: not XML ({exc})") from None
    name = root.findtext("name")
    os_type = root.find("os/type")
    machine = os_type.get("machine") if os_type is not None else None
    if root.tag != "domain" or not name or not machine or family(machine) is None:
        raise StateError(f"{source}: not a libvirt domain of a pc or q35 machine")
    root_bus = "pcie.0" if family(machine) == "q35" else "pci.0"
    pins: list[Pin] = []
    ordinals: dict[str, int] = {}
    primary_video = True
    devices = root.find("devices")
    for dev in list(devices) if devices is not None else []:
        address = dev.find("address")
        driver, key, mac = _identify(dev, ordinals)
        if dev.tag == "video" and driver:
            key = identity.BOARD_VGA if primary_video else key
            primary_video = False
        if address is None or driver is None:
            continue
        if address.get("type") == "pci":
            bus_index = _int(address.get("bus"))
            pins.append(Pin(key=key, driver=driver,
                            bus=root_bus if bus_index == 0 else f"pci.{bus_index}",
                            slot=_int(address.get("slot")),
                            function=_int(address.get("function")), mac=mac, last_seen=now))
        elif address.get("type") == "drive" and dev.tag == "disk":
            target = dev.find("target")
            kind = target.get("bus") if target is not None else None
            bus, unit = _int(address.get("bus")), _int(address.get("unit"))
            if kind == "sata" or (kind == "ide" and root_bus == "pcie.0"):
                bus, unit = unit, 0
            elif kind != "ide":
                continue
            pins.append(Pin(key=key, driver=driver, bus=f"ide.{bus}", unit=unit, last_seen=now))
    return GuestState(name=name, machine=machine, devices=tuple(pins), created=now)


def _identify(dev: ET.Element, ordinals: dict[str, int]) -> tuple[str | None, str, str | None]:
    """(qemu driver, identity key, mac) of a libvirt device element."""
    model = dev.find("model")
    model_type = (model.get("type") or model.get("model")) if model is not None else None
    driver: str | None = None
    key = ""
    mac = None
    if dev.tag == "disk":
        target = dev.find("target")
        bus = target.get("bus") if target is not None else None
        cdrom = dev.get("device") == "cdrom"
        driver = {"virtio": "virtio-blk-pci", "ide": "ide-cd" if cdrom else "ide-hd",
                  "sata": "ide-cd" if cdrom else "ide-hd"}.get(bus or "")
        source = dev.find("source")
        path = source.get("file") or source.get("dev") if source is not None else None
        key = identity.disk(path) if path else ""
    elif dev.tag == "interface":
        driver = NIC_MODELS.get(model_type or "")
        mac_el = dev.find("mac")
        mac = mac_el.get("address") if mac_el is not None else None
        key = identity.mac(mac) if mac else ""
    elif dev.tag == "video":
        driver = VIDEO_MODELS.get(model_type or "")
    elif dev.tag == "controller" and dev.get("type") == "pci":
        driver = BRIDGE_MODELS.get(dev.get("model") or "")
        key = identity.of_id(f"pci.{dev.get('index')}")
    elif dev.tag in SIMPLE:
        driver = SIMPLE[dev.tag].get(dev.get("model") or model_type or "")
    if driver is not None and not key:
        key = identity.ordinal(driver, ordinals.get(driver, 0))
        ordinals[driver] = ordinals.get(driver, 0) + 1
    return driver, key, mac
