"""``qemuwrap-ctl``, driven as a user would: through its console script, on real state."""

from __future__ import annotations

import json
import os
import pwd
import shlex
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

import guest
from conftest import WRAPPER, Workspace, installed, recording_qemu

pytestmark = pytest.mark.qemu
CTL = installed("qemuwrap-ctl")
DATA = Path(__file__).parent / "data" / "libvirt"
BASE = ["-name", "g", "-drive", "file=a.img,if=virtio,format=raw", "-nic", "user,model=virtio",
        "-hdb", "b.img"]


def ctl(ws: Workspace, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    assert CTL, "the qemuwrap-ctl console script is installed (pip install -e .)"
    return subprocess.run([CTL, *args], env=ws.env(), cwd=ws.root, input=input,
                          capture_output=True, text=True, timeout=60, check=False)


def ctl_json(ws: Workspace, *args: str) -> Any:
    done = ctl(ws, args[0], "--json", *args[1:])
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


class Running:
    """A guest started through qemuwrap, paused, with a QMP socket; quit on exit."""

    def __init__(self, ws: Workspace, args: list[str]) -> None:
        self.socket = ws.root / "qmp.sock"
        self.args = [*args, "-S", "-display", "none", "-qmp",
                     f"unix:{self.socket},server=on,wait=off"]
        self.proc = subprocess.Popen([*WRAPPER, *self.args], env=ws.env(), cwd=ws.root,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(200):
            if self.socket.exists():
                break
            assert self.proc.poll() is None, self.proc.stderr.read() if self.proc.stderr else ""
            time.sleep(0.05)

    def __enter__(self) -> Running:
        return self

    def __exit__(self, *_: object) -> None:
        self.proc.kill()
        self.proc.wait()


def test_every_subcommand_has_help(ws: Workspace) -> None:
    for sub in ("plan", "list", "show", "forget", "pin", "rename", "export", "import",
                "import-libvirt", "check", "plug", "unplug", "sync"):
        done = ctl(ws, sub, "--help")
        assert done.returncode == 0 and "usage: qemuwrap-ctl " + sub in done.stdout
    assert ctl(ws, "frobnicate").returncode == 2


def test_version_and_the_hint_about_double_dash(ws: Workspace) -> None:
    from qemuwrap import __version__

    version = ctl(ws, "--version")
    assert version.returncode == 0 and version.stdout.strip() == f"qemuwrap-ctl {__version__}"
    forgot = ctl(ws, "plan", "-name", "x", "-m", "1G")
    assert forgot.returncode == 2
    assert "QEMU's arguments go after --: qemuwrap-ctl plan ... -- -name x ..." in forgot.stderr
    assert ctl(ws, "list", "--", "-name", "x").returncode == 2
    missing = ctl(ws, "plan", "--", "-name", "x", "-hda", "missing.img")
    assert missing.returncode == 2 and "image missing.img (in -hda missing.img)" in (
        missing.stderr), "plan refuses what the launch refuses"


def test_check_takes_qmp_before_the_double_dash_as_the_readme_writes_it(ws: Workspace) -> None:
    with Running(ws, BASE) as running:
        ok = ctl(ws, "check", "g", "--qmp", str(running.socket), "--", *BASE)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert "ok:" in ok.stdout
    assert ctl(ws, "show").returncode == 2


def test_plan_changes_nothing_and_says_what_would(ws: Workspace) -> None:
    done = ctl(ws, "plan", "--", *BASE)
    assert done.returncode == 0, done.stderr
    argv = shlex.split(done.stdout.splitlines()[0])
    assert argv[0] == guest.QEMU_PATH and "virtio-blk-pci,drive=virtio0,bus=pci.0,addr=0x4" in argv
    assert "# new: disk:a.img -> pci.0 04.0" in done.stdout
    assert not (ws.state / "g.toml").exists()
    ws.wrapped(BASE)
    data = ctl_json(ws, "plan", "--", *BASE[:2], *BASE[4:], "-drive", "file=c.img,if=virtio")
    assert data["machine"] == {"old": "pc-i440fx-7.2", "new": "pc-i440fx-7.2"}
    assert [(d["key"], d["address"]) for d in data["new_devices"]] == [
        ("disk:c.img", "pci.0 05.0")]
    assert [d["key"] for d in data["removed_devices"]] == ["disk:a.img"]
    assert ctl_json(ws, "plan", "--", "-version")["passthrough"] is True


def test_list_and_show(ws: Workspace) -> None:
    ws.wrapped(BASE)
    rows = ctl_json(ws, "list")
    assert [(r["name"], r["machine"], r["running_pid"]) for r in rows] == [
        ("g", "pc-i440fx-7.2", None)]
    with Running(ws, BASE) as running:
        assert ctl_json(ws, "list")[0]["running_pid"] == running.proc.pid
    shown = ctl_json(ws, "show", "g")
    addresses = [d["address"] for d in shown["devices"]]
    assert addresses == sorted(addresses, key=lambda a: (a.split()[0], a))
    assert {d["key"]: d["address"] for d in shown["devices"]}["disk:b.img"] == "ide.0 unit 1"
    tree = ctl(ws, "show", "g", "--tree").stdout
    assert "pci.0\n├── 02.0 VGA [board:vga]" in tree and "unit 1 ide-hd [disk:b.img]" in tree
    assert ctl(ws, "show", "nobody").returncode == 1


def test_forget_refuses_while_running_and_asks(ws: Workspace) -> None:
    ws.wrapped(BASE)
    with Running(ws, BASE) as running:
        done = ctl(ws, "forget", "g", "--yes")
        assert done.returncode == 1 and f"PID {running.proc.pid}" in done.stderr
    assert ctl(ws, "forget", "g", "--device", "a.img", input="n\n").returncode == 1
    assert ctl(ws, "forget", "g", "--device", "a.img", "--yes").returncode == 0
    assert "disk:a.img" not in (ws.state / "g.toml").read_text()
    assert ctl(ws, "forget", "g", input="y\n").returncode == 0
    assert not (ws.state / "g.toml").exists()


def test_pin_and_rename_move_the_real_guest(ws: Workspace) -> None:
    ws.wrapped(BASE)
    assert ctl(ws, "pin", "g", "disk:a.img", "0x9").returncode == 0
    clash = ctl(ws, "pin", "g", "disk:a.img", "pci.0:3")
    assert clash.returncode == 1 and "held by 'virtio-net-pci#0'" in clash.stderr
    moved = ws.wrapped(BASE).identified()
    assert moved["disk:a.img"][5] == "09.0"
    (ws.root / "a.img").rename(ws.root / "z.img")
    assert ctl(ws, "rename", "g", "a.img", "z.img").returncode == 0
    renamed = ws.wrapped([w.replace("a.img", "z.img") for w in BASE]).identified()
    assert renamed["disk:z.img"][4:] == moved["disk:a.img"][4:]


def test_export_import(ws: Workspace, tmp_path: Path) -> None:
    ws.wrapped(BASE)
    exported = ctl(ws, "export", "g").stdout
    assert 'name = "g"' in exported
    copy = tmp_path / "g.toml"
    copy.write_text(exported.replace('slot = 4', 'slot = 10'))
    assert ctl(ws, "import", "h", str(copy)).returncode == 0
    assert ctl(ws, "import", "h", str(copy)).returncode == 0, "the same state again is fine"
    refused = ctl(ws, "import", "g", str(copy))
    assert refused.returncode == 1 and "--force" in refused.stderr
    assert ctl(ws, "import", "g", str(copy), "--force").returncode == 0
    assert ws.wrapped(BASE).identified()["disk:a.img"][5] == "0a.0"


def test_import_libvirt_keeps_the_hardware_libvirt_gave(ws: Workspace) -> None:
    xml = ws.root / "lvguest.xml"
    xml.write_text((DATA / "lvguest.xml").read_text().replace("/tmp/lv/", f"{ws.root}/"))
    done = ctl(ws, "import-libvirt", str(xml))
    assert done.returncode == 0, done.stderr
    args = ["-name", "lvguest", "-drive", f"file={ws.root}/a.img,if=virtio,format=raw",
            "-hdb", f"{ws.root}/b.img", "-net", "nic,model=virtio,macaddr=52:54:00:ab:cd:01",
            "-net", "nic,model=e1000,macaddr=52:54:00:45:cf:71", "-net", "user",
            "-device", "virtio-balloon-pci"]
    seen = ws.wrapped(args)
    assert seen.machine == "pc-i440fx-7.2"
    ids = seen.identified()
    assert ids["disk:a.img"][5] == "05.0" and ids["disk:b.img"][:3] == (
        "main-system-bus/pci.0/ide.0", "ide-hd", "1 (0x1)")
    assert ids["mac:52:54:00:ab:cd:01"][5] == "03.0"
    assert ids["mac:52:54:00:45:cf:71"][5] == "04.0"
    assert seen.addr_of("virtio-balloon-pci") == ["main-system-bus/pci.0@06.0"]
    assert seen.addr_of("VGA") == ["main-system-bus/pci.0@02.0"]
    q35 = ctl(ws, "import-libvirt", str(DATA / "lvq35.xml"))
    assert q35.returncode == 0
    shown = {d["key"]: d["address"] for d in ctl_json(ws, "show", "lvq35")["devices"]}
    assert shown["disk:/tmp/lv/a.img"] == "pci.5 00.0"
    assert shown["disk:/tmp/lv/b.img"] == "ide.1 unit 0"
    assert shown["id:pci.1"] == "pcie.0 02.0"


def test_check_compares_a_running_guest(ws: Workspace) -> None:
    with Running(ws, BASE) as running:
        ok = ctl(ws, "check", "g", "--", *running.args)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert "ok:" in ok.stdout
        path = ws.state / "g.toml"
        path.write_text(path.read_text().replace("slot = 4", "slot = 7"))
        bad = ctl(ws, "check", "g", "--", *running.args)
        assert bad.returncode == 1
        assert "differs: disk:a.img: no virtio-blk-pci at pci.0 07.0" in bad.stdout


def test_check_and_pin_know_scsi_ids(ws: Workspace) -> None:
    args = ["-name", "s", "-drive", "file=a.img,if=scsi,format=raw"]
    with Running(ws, args) as running:
        ok = ctl(ws, "check", "s", "--", *running.args)
        assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ctl(ws, "pin", "s", "disk:a.img", "scsi0.0:4").returncode == 0
    shown = {d["key"]: d["address"] for d in ctl_json(ws, "show", "s")["devices"]}
    assert shown["disk:a.img"] == "scsi0.0 unit 4"
    assert ws.wrapped(args).by_driver("scsi-hd")[0]["scsi-id"].startswith("4")


def test_check_and_pin_know_usb_ports_on_a_controller_of_ones_own(ws: Workspace) -> None:
    args = ["-name", "u", "-M", "q35", "-device", "qemu-xhci,id=input",
            "-device", "usb-tablet", "-device", "usb-kbd"]
    with Running(ws, args) as running:
        ok = ctl(ws, "check", "u", "--", *running.args)
        assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ctl(ws, "pin", "u", "usb-tablet#0", "3").returncode == 0
    clash = ctl(ws, "pin", "u", "usb-tablet#0", "input.0:2")
    assert clash.returncode == 1 and "held by 'usb-kbd#0'" in clash.stderr
    shown = {d["key"]: d["address"] for d in ctl_json(ws, "show", "u")["devices"]}
    assert shown["usb-tablet#0"] == "input.0 port 3"
    tablet = ws.wrapped(args).by_driver("usb-tablet")[0]
    assert tablet["usbport"] == "3" and tablet["path"].endswith("/input.0")


def test_pin_leaves_a_tombstone_where_the_device_was(ws: Workspace) -> None:
    ws.wrapped(BASE)
    was = {d["key"]: d["address"] for d in ctl_json(ws, "show", "g")["devices"]}["disk:a.img"]
    assert ctl(ws, "pin", "g", "disk:a.img", "0x9").returncode == 0
    tombs = {d["key"]: d["address"] for d in ctl_json(ws, "show", "g")["tombstones"]}
    assert tombs == {f"moved:disk:a.img@{was}": was}
    added = ws.wrapped([*BASE, "-device", "virtio-rng-pci"]).by_driver("virtio-rng-pci")
    assert f"pci.0 {added[0]['addr']}" != was, "the freed slot waits"
    back = was.split()[1].split(".")[0]
    assert ctl(ws, "pin", "g", "disk:a.img", f"0x{back}").returncode == 0, "going back is allowed"
    tombs = {d["key"] for d in ctl_json(ws, "show", "g")["tombstones"]}
    assert tombs == {"moved:disk:a.img@pci.0 09.0"}


def test_check_leaves_out_a_hub_that_nothing_sits_behind(ws: Workspace) -> None:
    """The hub qemuwrap added for the second USB device stays recorded, but is not on the
    command line once that device is gone: check must not miss it in the guest."""
    tablet = ["-name", "h", "-usb", "-usbdevice", "tablet"]
    ws.wrapped(tablet)
    ws.wrapped(["-name", "h", "-usb", "-usbdevice", "mouse", "-usbdevice", "tablet"])
    with Running(ws, tablet) as running:
        ok = ctl(ws, "check", "h", "--", *running.args)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert "ok: the 4 pinned devices" in ok.stdout


def test_root_writes_another_users_state_as_that_user(ws: Workspace) -> None:
    """libvirt's QEMU runs as libvirt-qemu and must write its state again after root ran
    qemuwrap-ctl pin on it (nobody stands in for it here)."""
    if os.geteuid() != 0:
        pytest.skip("needs root, as qemuwrap-ctl run by an admin has")
    ws.wrapped(BASE)
    nobody = pwd.getpwnam("nobody")
    for path in [ws.state, *ws.state.rglob("*")]:
        os.chown(path, nobody.pw_uid, nobody.pw_gid, follow_symlinks=False)
    assert ctl(ws, "pin", "g", "disk:a.img", "9").returncode == 0
    shutil.rmtree(ws.state / ".cache")
    assert ctl(ws, "plan", "--", *BASE, "-hdd", "c.img").returncode == 0, "the cache again"
    exported = ctl(ws, "export", "g").stdout
    (ws.root / "g.toml").write_text(exported.replace("slot = 9", "slot = 10"))
    assert ctl(ws, "import", "g", str(ws.root / "g.toml"), "--force").returncode == 0
    written = [p for p in [ws.state, *ws.state.rglob("*")] if p.lstat().st_uid != nobody.pw_uid]
    assert written == [], "files root wrote keep the directory's owner"
    assert (ws.state / "g.toml").lstat().st_uid == nobody.pw_uid


def test_an_unreadable_state_directory_is_one_line(ws: Workspace) -> None:
    ws.state.write_text("not a directory")
    done = ctl(ws, "list")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [f"qemuwrap-ctl: cannot read state directory {ws.state}: "
                                        "Not a directory"]


@pytest.mark.parametrize("first", ["plan", "launch"])
def test_a_state_directory_made_on_the_way_is_private(ws: Workspace, first: str) -> None:
    """Whichever comes first, ``plan`` (which writes only the binary's cache below it) or
    a launch, the state directory and the ones made above it are 0700: their listing
    names every guest. (``mkdir(parents=True)`` made them 0755.)"""
    top = ws.root / "new"
    state_dir = top / "deeper" / "state"
    env = ws.env(QEMUWRAP_STATE_DIR=str(state_dir))
    command = [CTL, "plan", "--"] if first == "plan" else [*WRAPPER]
    done = subprocess.run([*command, "-name", "g", "-S", "-display", "none", "-qmp", "stdio"],
                          env=env, cwd=ws.root, capture_output=True, text=True, timeout=60,
                          input='{"execute":"qmp_capabilities"}\n{"execute":"quit"}\n',
                          check=False)
    assert done.returncode == 0, done.stderr
    made = [top, top / "deeper", state_dir, state_dir / ".cache"]
    assert {str(d): oct(d.stat().st_mode & 0o777) for d in made} == {
        str(d): "0o700" for d in made}


def test_usage_errors_exit_2_and_refusals_exit_1(ws: Workspace) -> None:
    ws.wrapped(BASE)
    bad_address = ctl(ws, "pin", "g", "disk:a.img", "zz")
    assert bad_address.returncode == 2 and "cannot read address 'zz'" in bad_address.stderr
    wrong_guest = ctl(ws, "check", "g", "--", "-name", "other")
    assert wrong_guest.returncode == 2
    no_state = ctl(ws, "show", "nobody")
    assert no_state.returncode == 1 and "no state for guest 'nobody'" in no_state.stderr


PLAN_LINES = {
    "win7": ("qemuwrap", ["-name", "p", "-m", "512", "-drive", "file=a.img,if=virtio",
                          "-net", "nic,model=virtio", "-net", "user"]),
    "daemonize": ("qemuwrap", ["-name", "p", "-daemonize", "-hda", "a.img"]),
    "daemonize-own-pidfile": ("qemuwrap", ["-name", "p", "-daemonize", "-pidfile", "x.pid"]),
    "qemu-kvm": ("qemu-kvm", ["-name", "p", "-M", "q35", "-usb", "-device", "usb-tablet"]),
    "kvm": ("kvm", ["-name", "p", "-nic", "user,model=e1000"]),
    "kvm-chooses-tcg": ("kvm", ["-name", "p", "-accel", "tcg"]),
    "no-name": ("qemu-kvm", ["-hda", "a.img"]),
    "query": ("qemuwrap", ["-name", "p", "-device", "help"]),
}


@pytest.mark.parametrize("case", sorted(PLAN_LINES))
def test_plan_shows_exactly_what_the_launch_executes(ws: Workspace, tmp_path: Path,
                                                      case: str) -> None:
    """One launch path: ``plan --json`` argv is what the real binary is handed."""
    program, args = PLAN_LINES[case]
    fake, received = recording_qemu(tmp_path)
    env = ws.env(QEMUWRAP_QEMU=str(fake))
    planned = subprocess.run([CTL, "plan", "--json", "--as", program, "--", *args], env=env,
                             cwd=ws.root, capture_output=True, text=True, check=False)
    assert planned.returncode == 0, planned.stderr
    link = tmp_path / program
    link.symlink_to(Path(WRAPPER[-1]))
    launched = subprocess.run([WRAPPER[0], "-I", str(link), *args], env=env, cwd=ws.root,
                              capture_output=True, text=True, check=False)
    assert launched.returncode == 0, launched.stderr
    assert json.loads(planned.stdout)["argv"] == received.read_text().splitlines()
    if case.startswith("daemonize"):
        assert "-pidfile" in received.read_text()
    kvm = program in ("qemu-kvm", "kvm") and "-accel" not in args
    assert ("\n-accel\nkvm\n" in received.read_text()) == kvm


def test_plan_says_when_it_puts_a_bridge_back(ws: Workspace) -> None:
    ports = ["-name", "rp", "-M", "q35", "-nic", "none",
             "-device", "pcie-root-port,id=rp1,chassis=1", "-device", "e1000e,bus=rp1",
             "-device", "pcie-root-port,id=rp2,chassis=2", "-device", "virtio-rng-pci,bus=rp2"]
    ws.wrapped(ports)
    without_rp1 = [*ports[:6], *ports[10:]]
    assert "rp1" not in " ".join(without_rp1) and "rp2" in " ".join(without_rp1)
    text = ctl(ws, "plan", "--", *without_rp1)
    assert "# put back: id:rp1 (pcie-root-port at pcie.0 " in text.stdout, text.stdout
    shown = ctl_json(ws, "plan", "--", *without_rp1)
    assert [d["key"] for d in shown["put_back"]] == ["id:rp1"]
    assert "pcie-root-port,id=rp1,chassis=1,bus=pcie.0" in " ".join(shown["argv"])


def test_a_guest_of_another_state_directory_is_not_this_one(ws: Workspace,
                                                             tmp_path: Path) -> None:
    """qemuwrap's QEMU for guest g of another state directory holds that directory's run
    lock: it does not make this directory's g running. A plain QEMU named g still does."""
    ws.wrapped(BASE)
    (tmp_path / "other").mkdir()
    other = Workspace(tmp_path / "other")
    with Running(other, BASE):
        assert ctl(ws, "pin", "g", "disk:a.img", "0x9").returncode == 0
    plain = subprocess.Popen([guest.QEMU_PATH, *BASE, "-S", "-display", "none", "-accel",
                              guest.accel()], cwd=ws.root, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        time.sleep(1)
        refused = ctl(ws, "pin", "g", "disk:a.img", "0xa")
        assert refused.returncode == 1 and f"PID {plain.pid}" in refused.stderr
    finally:
        plain.kill()
        plain.wait()
