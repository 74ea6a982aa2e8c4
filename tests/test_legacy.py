"""Each removed or legacy option, rewritten and started on the real QEMU 7.2.

One row per line of the README's legacy table: the command line goes through
the planner (to see what QEMU is given) and then starts a paused guest through
qemuwrap, whose ``info qtree`` must show the device the old option meant, at a
pinned address.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from qemuwrap.launch import FactsSource, plan_launch

import guest
from conftest import Workspace

pytestmark = pytest.mark.qemu
QEMU10 = os.environ.get("QEMUWRAP_TEST_QEMU10", "/opt/qemuwrap-test/qemu-10.0/qemu-system-x86_64")
Check = Callable[[str, guest.Topology], None]


def on_pci(driver: str) -> Check:
    def check(_argv: str, topo: guest.Topology) -> None:
        devices = topo.by_driver(driver)
        assert devices and all(d["path"].endswith("pci.0") and "addr" in d for d in devices)
    return check


def present(driver: str, **props: str) -> Check:
    def check(_argv: str, topo: guest.Topology) -> None:
        devices = topo.by_driver(driver)
        assert devices, f"no {driver} in qtree"
        for key, value in props.items():
            assert any(d.get(key, "").split(" ")[0] == value for d in devices), (key, devices)
    return check


def absent(driver: str) -> Check:
    def check(_argv: str, topo: guest.Topology) -> None:
        assert not topo.by_driver(driver)
    return check


def passes(*words: str) -> Check:
    def check(argv: str, _topo: guest.Topology) -> None:
        for word in words:
            assert word in argv, (word, argv)
    return check


def no(*words: str) -> Check:
    def check(argv: str, _topo: guest.Topology) -> None:
        for word in words:
            assert word not in argv, (word, argv)
    return check


ROWS: dict[str, tuple[list[str], list[Check]]] = {
    "soundhw-hda-ac97": (["-soundhw", "hda,ac97"],
                         [on_pci("intel-hda"), present("hda-duplex"), on_pci("AC97")]),
    "soundhw-sb16-es1370": (["-soundhw", "sb16,es1370"], [present("sb16"), on_pci("ES1370")]),
    "soundhw-isa-cards": (["-soundhw", "gus,adlib,cs4231a"],
                          [present("gus"), present("adlib"), present("cs4231a")]),
    "soundhw-pcspk-own-audiodev": (["-audiodev", "none,id=snd", "-soundhw", "pcspk,sb16"],
                                   [present("isa-pcspk", audiodev="snd"),
                                    passes("-machine pcspk-audiodev=snd"), present("sb16")]),
    "soundhw-pcspk-default-audio": (["-soundhw", "pcspk,ac97"],
                                    [present("isa-pcspk"), on_pci("AC97"),
                                     no("-audiodev", "pcspk-audiodev", "-soundhw")]),
    "balloon-virtio": (["-balloon", "virtio,addr=0x9"],
                       [present("virtio-balloon-pci", addr="09.0")]),
    "balloon-none": (["-balloon", "none"], [absent("virtio-balloon-pci"), no("-balloon")]),
    "watchdog-i6300esb": (["-watchdog", "i6300esb", "-watchdog-action", "pause"],
                          [on_pci("i6300esb"), passes("-watchdog-action pause")]),
    "watchdog-ib700": (["-watchdog", "ib700"], [present("ib700")]),
    "net-vlan": (["-net", "nic,vlan=0,model=virtio", "-net", "user,vlan=0",
                  "-net", "nic,vlan=1,model=e1000", "-net", "user,vlan=1,name=second",
                  "-net", "nic,vlan=1,model=rtl8139"],
                 [on_pci("virtio-net-pci"), on_pci("e1000"), on_pci("rtl8139"),
                  passes("hubid=1"), no("vlan=")]),
    "net-dump": (["-net", "nic,model=virtio", "-net", "user", "-net", "dump,file=dump.pcap"],
                 [passes("filter-dump,id=", "file=dump.pcap"), no("-net dump")]),
    "net-backends-none": (["-net", "socket,listen=127.0.0.1:34561", "-net", "nic",
                           "-nic", "none"], [on_pci("e1000"), passes("-nic none")]),
    "drive-boot-on": (["-drive", "file=a.img,boot=on,format=raw", "-drive",
                       "file=b.img,if=virtio,boot=on,format=raw"],
                      [passes("ide-hd,bootindex=0,", "virtio-blk-pci,bootindex=1,"),
                       present("ide-hd"), no("boot=on")]),
    "drive-if-scsi": (["-drive", "file=a.img,if=scsi,format=raw", "-drive",
                       "file=b.img,if=scsi,unit=3,media=cdrom"],
                      [on_pci("lsi53c895a"), present("scsi-hd", **{"scsi-id": "0"}),
                       present("scsi-cd", **{"scsi-id": "3"})]),
    "usbdevice": (["-usbdevice", "tablet", "-usbdevice", "disk:b.img", "-usbdevice",
                   "host:1234:5678"],
                  [present("usb-tablet", usbport="1"), present("usb-storage"),
                   present("usb-host", vendorid="4660")]),
    "drive-virtio-options": (["-drive", "file=a.img,if=virtio,serial=OLD1,cache=none,"
                              "format=raw,index=2,readonly=on"],
                             [present("virtio-blk-device", serial="OLD1"),
                              passes("drive=virtio2", "readonly=on", "virtio-blk-pci,serial=OLD1"),
                              no("raw,serial")]),
    "no-kvm": (["-no-kvm"], [passes("-accel tcg"), no("-no-kvm")]),
    "no-acpi-kept-on-7.2": (["-no-acpi", "-no-hpet"], [passes("-no-acpi", "-no-hpet")]),
    "localtime-startdate-td-hack": (["-localtime", "-startdate", "2010-01-01", "-rtc-td-hack"],
                                    [passes("-rtc base=localtime", "-rtc base=2010-01-01",
                                            "-rtc driftfix=slew")]),
    "nodefconfig": (["-nodefconfig"], [passes("-no-user-config"), no("-nodefconfig")]),
    "kvm-irqchip-pit": (["-no-kvm-irqchip", "-no-kvm-pit-reinjection"],
                        [passes("-machine kernel_irqchip=off",
                                "-global kvm-pit.lost_tick_policy=discard")]),
    "no-kvm-pit-tdf": (["-no-kvm-pit", "-tdf"],
                       [passes("-global kvm-pit.lost_tick_policy=delay"),
                        no("-tdf", "-no-kvm-pit")]),
    "hdachs": (["-hda", "a.img", "-hdachs", "100,16,63"],
               [present("ide-hd", cyls="100", heads="16", secs="63")]),
    "realtime": (["-realtime", "mlock=off"], [passes("-overcommit mem-lock=off")]),
    "sdl-curses": (["-sdl"], [passes("-display sdl"), no("-sdl ")]),
    "redir-tftp-bootp": (["-redir", "tcp:34562::22", "-tftp", ".", "-bootp", "pxe.0"],
                         [passes("hostfwd=tcp::34562-:22", "tftp=.", "bootfile=pxe.0"),
                          on_pci("e1000")]),
    "ide-drive-scsi-disk": (["-drive", "if=none,id=d0,file=a.img,format=raw", "-device",
                             "ide-drive,drive=d0", "-device", "lsi53c895a,id=hba",
                             "-drive", "if=none,id=d1,file=b.img,format=raw",
                             "-device", "scsi-disk,drive=d1,bus=hba.0"],
                            [present("ide-hd"), present("scsi-hd")]),
    "vga-models-pc": (["-vga", "cirrus"], [present("cirrus-vga", addr="02.0")]),
    "vga-virtio-q35": (["-M", "q35", "-vga", "virtio"], [present("virtio-vga", addr="01.0")]),
    "vga-none": (["-vga", "none"], [absent("VGA"), passes("-vga none")]),
}


@pytest.fixture(scope="module")
def facts(tmp_path_factory: pytest.TempPathFactory) -> FactsSource:
    return FactsSource(guest.QEMU_PATH, tmp_path_factory.mktemp("cache"))


@pytest.mark.parametrize("row", sorted(ROWS))
def test_legacy_option(ws: Workspace, facts: FactsSource, row: str) -> None:
    args, checks = ROWS[row]
    argv = ["-name", "legacy", *args]
    planned = " ".join(plan_launch(argv, facts, None, datetime.now(UTC)).argv)
    topo = ws.wrapped(argv)
    for check in checks:
        check(planned, topo)


def test_smb_and_run_with_rewrites_for_the_qemu_that_needs_them(facts: FactsSource) -> None:
    now = datetime.now(UTC)
    smb = " ".join(plan_launch(["-name", "s", "-net", "nic", "-net", "user", "-smb", "/srv"],
                               facts, None, now).argv)
    assert "-netdev user,id=qwnet0,smb=/srv" in smb and "-smb" not in smb
    old = ["-name", "r", "-chroot", "/var/empty", "-runas", "nobody"]
    assert "-chroot /var/empty -runas nobody" in " ".join(plan_launch(old, facts, None,
                                                                      now).argv)
    new = " ".join(plan_launch(old, FactsSource(QEMU10, None), None, now).argv)
    assert "-run-with chroot=/var/empty -run-with user=nobody" in new


def test_readconfig_devices_are_pinned(ws: Workspace) -> None:
    (ws.root / "vm.cfg").write_text('[drive "disk0"]\n  file = "a.img"\n  if = "virtio"\n'
                                    '  format = "raw"\n\n[netdev "n0"]\n  type = "user"\n\n'
                                    '[device "nic0"]\n  driver = "virtio-net-pci"\n'
                                    '  netdev = "n0"\n')
    first = ws.wrapped(["-name", "rc", "-readconfig", "vm.cfg"])
    second = ws.wrapped(["-name", "rc", "-drive", "file=b.img,if=virtio,format=raw",
                         "-readconfig", "vm.cfg"])
    assert second.identified()["disk:a.img"] == first.identified()["disk:a.img"]
    saved = (ws.state / "rc.toml").read_text()
    assert 'key = "id:disk0"' in saved and 'key = "id:nic0"' in saved
    (ws.root / "named.cfg").write_text('[name]\n  guest = "fromfile"\n\n[machine]\n'
                                       '  type = "pc-i440fx-7.1"\n')
    named = ws.wrapped(["-readconfig", "named.cfg"])
    assert named.machine == "pc-i440fx-7.1"
    assert (ws.state / "fromfile.toml").exists()
