"""qemuwrap as libvirt's ``<emulator>``, under a real libvirtd 9.0 (tests/libvirtd.py).

Two domains libvirt itself defined (tests/data/libvirt): a small pc guest and a
q35 Windows-style guest as virt-install makes it (SATA disk and CD-ROM, e1000e,
qemu-xhci with a tablet, virtio devices). Each starts through qemuwrap with the
same ``query-pci`` as through plain QEMU; live attach, save and restore and
``domxml-to-native`` work; the state is what qemuwrap promises;
``qemuwrap-ctl check --libvirt`` reads the guest through libvirt, and
``check``/``sync`` through qemuwrap's own monitor beside libvirt's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from qemuwrap import state

from conftest import Workspace
from libvirtd import Libvirt, domain_xml, emulator

pytestmark = pytest.mark.qemu
DATA = Path(__file__).parent / "data" / "libvirt"


@pytest.fixture(scope="module")
def libvirt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Libvirt]:
    with Libvirt(tmp_path_factory.mktemp("libvirt")) as lv:
        yield lv


def define(lv: Libvirt, ws: Workspace, source: str, name: str, wrapped: bool) -> str:
    config = ws.root / "config.toml"
    config.write_text('qemu = "/usr/bin/qemu-system-x86_64"\n')
    path = (str(emulator(ws.root / "qemuwrap-emulator", ws.state, config)) if wrapped
            else "/usr/bin/qemu-system-x86_64")
    images = {"/tmp/lv/win.img": ws.root / "a.img", "/tmp/lv/win.iso": ws.root / "b.img",
              "/tmp/lv/a.img": ws.root / "a.img", "/tmp/lv/b.img": ws.root / "b.img"}
    xml = ws.root / f"{name}.xml"
    xml.write_text(domain_xml((DATA / source).read_text(), name, path, images))
    lv.virsh("define", str(xml))
    return name


def pci(lv: Libvirt, domain: str) -> object:
    return json.loads(lv.qmp(domain, "query-pci"))["return"]


@pytest.mark.parametrize(("source", "keys"), [
    ("lvguest.xml", ["id:virtio-disk0", "id:net0", "id:video0", "id:balloon0"]),
    ("lvwin.xml", ["id:sata0-0-0", "id:sata0-0-1", "id:net0", "id:pci.1", "id:rng0"]),
])
def test_a_domain_starts_through_qemuwrap_as_through_qemu(
        libvirt: Libvirt, ws: Workspace, source: str, keys: list[str]) -> None:
    stem = source.removesuffix(".xml")
    plain = define(libvirt, ws, source, f"{stem}-plain", wrapped=False)
    libvirt.virsh("start", plain, "--paused")
    expected = pci(libvirt, plain)
    libvirt.virsh("destroy", plain)
    wrapped = define(libvirt, ws, source, f"{stem}-wrapped", wrapped=True)
    libvirt.virsh("start", wrapped, "--paused")
    try:
        assert pci(libvirt, wrapped) == expected
        saved = state.load(ws.state / f"{wrapped}.toml")
        assert saved is not None and saved.machine in ("pc-i440fx-7.2", "pc-q35-7.2")
        assert set(keys) <= {p.key for p in saved.devices}
        native = libvirt.virsh("domxml-to-native", "qemu-argv", "--domain", wrapped).stdout
        assert f"-name guest={wrapped}," in native
    finally:
        libvirt.virsh("destroy", wrapped)


def test_attach_save_restore_and_check_through_libvirt(libvirt: Libvirt, ws: Workspace,
                                                       tmp_path: Path) -> None:
    domain = define(libvirt, ws, "lvwin.xml", "win-live", wrapped=True)
    libvirt.virsh("start", domain, "--paused")
    env = ws.env()
    try:
        ok = libvirt.ctl("check", "--libvirt", domain, env=env)
        assert ok.returncode == 0 and "ok: the " in ok.stdout, ok.stdout + ok.stderr
        nic = tmp_path / "nic.xml"
        nic.write_text("<interface type='user'><mac address='52:54:00:00:aa:01'/>"
                       "<model type='virtio'/></interface>")
        libvirt.virsh("attach-device", domain, str(nic), "--live")
        assert "52:54:00:00:aa:01" in libvirt.virsh(
            "qemu-monitor-command", domain, "--hmp", "info network").stdout
        # qemuwrap's own monitor, beside libvirt's: the attached NIC is recorded where
        # libvirt put it, and check needs nothing but the name.
        differs = libvirt.ctl("check", domain, env=env)
        assert differs.returncode == 0, differs.stdout + differs.stderr
        synced = libvirt.ctl("sync", domain, env=env)
        assert synced.returncode == 0 and "recorded: id:net1 -> pci." in synced.stdout, (
            synced.stdout + synced.stderr)
        attached = {p.key: p for p in state.load(ws.state / f"{domain}.toml").devices}["id:net1"]
        assert attached.mac == "52:54:00:00:aa:01"
        before = pci(libvirt, domain)
        recorded = (ws.state / f"{domain}.toml").read_bytes()
        image = tmp_path / "saved.img"
        libvirt.virsh("save", domain, str(image))
        libvirt.virsh("restore", str(image), "--paused")
        assert pci(libvirt, domain) == before, "restored with the same devices"
        assert (ws.state / f"{domain}.toml").read_bytes() == recorded, "-incoming wrote nothing"
        path = ws.state / f"{domain}.toml"
        path.write_text(recorded.decode().replace('bus = "pci.4"', 'bus = "pci.5"', 1))
        moved = libvirt.ctl("check", "--libvirt", domain, env=env)
        assert moved.returncode == 1 and "differs: id:rng0: no virtio-rng-pci at pci.5" in (
            moved.stdout), moved.stdout + moved.stderr
    finally:
        libvirt.virsh("destroy", domain, check=False)
