"""QEMU's option table, as data: which options take an argument, and their implied keys.

Taken from QEMU's ``qemu-options.hx`` (``DEF(name, HAS_ARG, ...)``), plus options
that older QEMUs had and old command lines still carry. The tokeniser must know
whether an option eats the next word even for options qemuwrap never rewrites,
so this table covers every option, current and removed.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final

__all__ = ["IMPLIED_KEY", "JSON_CAPABLE", "WITHOUT_ARGUMENT", "WITH_ARGUMENT", "takes_argument"]

WITH_ARGUMENT: Final = frozenset("""
machine M cpu accel smp numa add-fd set global boot m mem-path k audio audiodev
device name uuid fda fdb hda hdb hdc hdd cdrom blockdev drive mtdblock sd fsdev
virtfs iscsi usbdevice display spice vga vnc acpitable smbios netdev nic net
chardev tpmdev bios pflash kernel shim append initrd dtb compat fw_cfg serial
parallel monitor qmp qmp-pretty mon debugcon pidfile overcommit gdb d D dfilter
seed L xen-domid action loadvm option-rom rtc icount watchdog-action echr
incoming sandbox readconfig trace plugin qtest qtest-log run-with msg
dump-vmstate object
soundhw balloon watchdog hdachs redir tftp bootp smb startdate realtime chroot
runas writeconfig semihosting-config rotate
""".split())

WITHOUT_ARGUMENT: Final = frozenset("""
h help version mem-prealloc snapshot usb nographic full-screen win2k-hack
no-fd-bootchk enable-kvm preconfig S s xen-attach xen-domid-restrict no-reboot
no-shutdown daemonize only-migratable nodefaults no-user-config
enable-sync-profile perfmap jitdump semihosting
no-kvm no-acpi no-hpet localtime rtc-td-hack nodefconfig no-kvm-irqchip
no-kvm-pit-reinjection no-kvm-pit tdf sdl curses async-teardown alt-grab
ctrl-grab no-frame show-cursor no-quit enable-fips audio-help portrait singlestep
""".split())

IMPLIED_KEY: Final = {
    "device": "driver",
    "netdev": "type",
    "net": "type",
    "nic": "type",
    "numa": "type",
    "tpmdev": "type",
    "name": "guest",
    "m": "size",
    "smp": "cpus",
    "machine": "type",
    "M": "type",
    "boot": "order",
    "object": "qom-type",
    "blockdev": "driver",
    "audio": "driver",
    "audiodev": "driver",
    "chardev": "backend",
    "fsdev": "fsdriver",
    "virtfs": "fsdriver",
    "accel": "accel",
    "mon": "chardev",
    "icount": "shift",
    "display": "type",
}
"""The key a bare first element stands for: ``-device e1000`` is ``driver=e1000``."""

JSON_CAPABLE: Final = frozenset({"blockdev", "object", "device", "netdev", "audiodev", "display"})
"""Options whose argument may be a JSON object (first character ``{``)."""


def takes_argument(name: str) -> bool:
    """Whether option ``name`` (without dashes) consumes the next word.

    An option qemuwrap has never heard of is taken to stand alone, which is what
    QEMU's own parser would have to assume of a flag it does not know.
    """
    return name in WITH_ARGUMENT
