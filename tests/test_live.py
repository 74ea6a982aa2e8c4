"""Live guests: qemuwrap's own monitor, hot-plug that stays put, ``sync``, ``unplug``.

Every guest here is a real QEMU started through qemuwrap, paused (no OS needed);
what the guest sees is read over QMP (``query-pci``, ``info qtree``), through
qemuwrap's monitor or a socket of the test's own.
"""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from qemu.qmp import ConnectError
from qemu.qmp.legacy import QEMUMonitorProtocol
from test_ctl import CTL, ctl
from test_upgrade import QEMU10

import guest
from conftest import WRAPPER, Workspace

pytestmark = pytest.mark.qemu

LINE = ["-name", "g", "-drive", "file=a.img,if=virtio,format=raw",
        "-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0,id=nic0",
        "-usb", "-device", "usb-tablet,id=tablet"]
RNG = ["-device", "virtio-rng-pci,id=rng"]
PAUSED = ["-S", "-display", "none", "-accel", guest.accel()]


def monitor_path(ws: Workspace, name: str = "g") -> Path:
    return ws.state / f"{name}.toml.qmp"


@contextlib.contextmanager
def qmp_client(path: Path | str) -> Iterator[QEMUMonitorProtocol]:
    qmp = QEMUMonitorProtocol(str(path))
    qmp.connect(negotiate=True)
    try:
        yield qmp
    finally:
        with contextlib.suppress(EOFError, OSError):
            qmp.close()


def wait_for(path: Path, proc: subprocess.Popen[bytes] | None = None) -> None:
    for _ in range(300):
        with contextlib.suppress(OSError, ConnectError), qmp_client(path):
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(proc.stderr.read().decode() if proc.stderr else "exited")
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on {path}")


class Live:
    """A guest started through qemuwrap, paused; ``quit`` over qemuwrap's monitor on exit."""

    def __init__(self, ws: Workspace, args: list[str], env: dict[str, str] | None = None,
                 daemonize: bool = False) -> None:
        self.ws = ws
        self.env = env or ws.env()
        self.argv = [*WRAPPER, *args, *PAUSED]
        state_dir = Path(self.env["QEMUWRAP_STATE_DIR"])
        self.socket = state_dir / "g.toml.qmp"
        if len(str(self.socket)) > 107:  # longer than a socket address: through the directory
            state_dir.mkdir(parents=True, exist_ok=True)
            self.dir_fd = os.open(state_dir, os.O_RDONLY | os.O_DIRECTORY)
            self.socket = Path(f"/proc/self/fd/{self.dir_fd}/g.toml.qmp")
        if daemonize:
            done = subprocess.run([*self.argv, "-daemonize"], env=self.env, cwd=ws.root,
                                  stdin=subprocess.DEVNULL, capture_output=True, timeout=60,
                                  check=False)
            assert done.returncode == 0, done.stderr.decode()
            self.stderr = done.stderr.decode()
            self.proc = None
        else:
            self.proc = subprocess.Popen(self.argv, env=self.env, cwd=ws.root,
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE)
        wait_for(self.socket, self.proc)

    def seen(self) -> dict[str, tuple[str, ...]]:
        """Each device with an id, an image or a MAC, by that: where the guest sees it
        (bus, address or USB port, MAC)."""
        with qmp_client(self.socket) as qmp:
            topo = guest.read(qmp, self.argv)
        out = {}
        for index, dev in enumerate(topo.devices):
            if "addr" not in dev and "usbport" not in dev:
                continue
            own = [dev, *(d for d in topo.devices if d["parent"] == str(index))]
            drive = next((d["drive"] for d in own if d.get("drive")), "")
            mac = next((d["mac"] for d in own if d.get("mac")), "")
            name = dev["id"] or os.path.basename(topo.drives.get(drive, "")) or mac
            if name:
                out[name] = (dev["bus"], dev.get("addr", dev.get("usbport", "")), mac)
        return out

    def hmp(self, command: str) -> str:
        with qmp_client(self.socket) as qmp:
            return str(qmp.cmd("human-monitor-command", **{"command-line": command}))

    def __enter__(self) -> Live:
        return self

    def __exit__(self, *_: object) -> None:
        with contextlib.suppress(Exception), qmp_client(self.socket) as qmp:
            qmp.cmd("quit")
        if self.proc is not None:
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for _ in range(100):
            if not self.socket.exists():
                break
            time.sleep(0.05)


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    return done.stdout


def slot_of(where: tuple[str, ...]) -> str:
    return where[1]


# -- the monitor ---------------------------------------------------------------------------

def chardevs(qmp: QEMUMonitorProtocol) -> set[tuple[str, str]]:
    return {(c["label"], c["filename"]) for c in qmp.cmd("query-chardev")}


OBSERVER = """[chardev "observer"]
  backend = "socket"
  path = "{path}"
  server = "on"
  wait = "off"

[mon]
  chardev = "observer"
  mode = "control"
"""


@pytest.mark.parametrize("extra", [[], ["-nographic"], ["-nographic", "-serial", "null"],
                                   ["-monitor", "none"], ["-nodefaults"]])
def test_the_monitor_is_private_and_the_guest_does_not_see_it(ws: Workspace,
                                                               extra: list[str]) -> None:
    """Same character devices as plain QEMU (its default monitor included, which ``-mon``
    would turn off), same PCI devices, and a socket only its owner can use. Both QEMUs
    are watched through a ``-readconfig`` monitor, which leaves the default one on."""
    seen = []
    for wrapped in (False, True):
        observer = ws.root / f"observer{int(wrapped)}.sock"
        config = ws.root / f"observer{int(wrapped)}.cfg"
        config.write_text(OBSERVER.format(path=observer))
        args = ["-name", "g", *extra, "-readconfig", str(config), *PAUSED]
        prefix = WRAPPER if wrapped else [guest.QEMU_PATH]
        proc = subprocess.Popen([*prefix, *args], env=ws.env(), cwd=ws.root,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        try:
            wait_for(observer, proc)
            with qmp_client(observer) as qmp:
                seen.append((chardevs(qmp) - {("observer", f"unix:{observer},server=on")},
                             guest.read(qmp, args).pci))
                qmp.cmd("quit")
        finally:
            proc.kill()
            proc.wait(timeout=30)
    (plain_chardevs, plain_pci), (wrapped_chardevs, wrapped_pci) = seen
    ours = {c for c in wrapped_chardevs if c[0] == "qemuwrap-monitor"}
    assert [c[1].removeprefix("disconnected:") for c in ours] == [
        f"unix:{monitor_path(ws)},server=on"]
    assert wrapped_chardevs - ours == plain_chardevs
    assert wrapped_pci == plain_pci


def test_the_socket_is_0600_replaced_when_stale_and_left_to_a_live_guest(ws: Workspace) -> None:
    ws.state.mkdir()
    stale = monitor_path(ws)
    import socket

    leftover = socket.socket(socket.AF_UNIX)
    leftover.bind(str(stale))
    leftover.close()  # a socket file nobody listens on, as a killed QEMU leaves it
    with Live(ws, LINE) as first:
        mode = os.stat(first.socket).st_mode
        assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
        second = subprocess.run([*WRAPPER, *LINE, *PAUSED], env=ws.env(), cwd=ws.root,
                                stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                timeout=60, check=False)
        # The second QEMU fails on the image lock; the first one's monitor is untouched.
        assert second.returncode != 0
        assert "qemuwrap-monitor" not in second.stderr
        assert "in step" in ok(ctl(ws, "sync", "g"))


def test_the_monitor_works_daemonized_with_a_user_qmp_and_replayed(ws: Workspace) -> None:
    own = ws.root / "user.sock"
    args = [*LINE, "-qmp", f"unix:{own},server=on,wait=off"]
    for launch in ("planned", "replayed"):
        with Live(ws, args, env=ws.env(QEMUWRAP_DEBUG="1"), daemonize=True) as running:
            assert ("exec (replayed)" in running.stderr) == (launch == "replayed")
            assert "qemuwrap-monitor" in running.stderr
            assert "ok: the" in ok(ctl(ws, "check", "g"))
            with qmp_client(own) as qmp:
                assert qmp.cmd("query-status")["status"] == "prelaunch"
            pid = int((ws.state / "g.toml.pid").read_text())
            assert f"PID {pid}" in ok(ctl(ws, "list"))


@pytest.mark.parametrize("confined", ["runas", "run-with", "chroot"])
def test_run_as_another_user_or_chrooted(ws: Workspace, tmp_path: Path, confined: str) -> None:
    """QEMU drops to ``nobody`` (7.2's ``-runas``, 10.0's ``-run-with user=``), or into
    an empty root, after start: the socket qemuwrap made for it still works, to check,
    plug and unplug."""
    if os.geteuid() != 0:
        pytest.skip("-runas and -chroot need root")
    ws.root.chmod(0o755)
    for image in ws.root.glob("*.img"):
        image.chmod(0o666)
    (tmp_path / "empty").mkdir()
    extra = {"runas": ["-runas", "nobody"], "run-with": ["-run-with", "user=nobody"],
             "chroot": ["-chroot", str(tmp_path / "empty")]}[confined]
    env = ws.env(QEMUWRAP_QEMU=QEMU10) if confined == "run-with" else ws.env()
    with Live(ws, [*LINE, *extra], env=env, daemonize=True):
        pid = int((ws.state / "g.toml.pid").read_text())
        if confined != "chroot":
            assert os.stat(f"/proc/{pid}").st_uid != 0
        else:
            assert os.readlink(f"/proc/{pid}/root") == str(tmp_path / "empty")
        assert "ok: the" in ok(ctl(ws, "check", "g"))
        assert "plugged: id:kbd" in ok(ctl(ws, "plug", "g", "--", "-device", "usb-kbd,id=kbd"))
        assert "unplugged: id:kbd" in ok(ctl(ws, "unplug", "g", "kbd"))


def test_a_long_state_path_and_the_opt_out(ws: Workspace, tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    env = ws.env(QEMUWRAP_STATE_DIR=str(deep))
    assert len(str(deep / "g.toml.qmp")) > 108
    with Live(ws, LINE, env=env):
        done = subprocess.run([CTL, "check", "g"], env=env, capture_output=True, text=True,
                              check=False)
        assert done.returncode == 0, done.stderr
    config = ws.root / "config.toml"
    config.write_text("monitor = false\n")
    env = ws.env(QEMUWRAP_CONFIG=str(config))
    planned = subprocess.run([CTL, "plan", "--", *LINE], env=env, cwd=ws.root,
                             capture_output=True, text=True, check=True)
    assert "qemuwrap-monitor" not in planned.stdout and "-monitor" not in planned.stdout
    for _ in range(2):  # the second launch is the replayed one: its config reader too
        launched = subprocess.run([*WRAPPER, *LINE, *PAUSED, "-daemonize"], env=env,
                                  cwd=ws.root, capture_output=True, text=True, check=False)
        assert launched.returncode == 0, launched.stderr
        pid = int((ws.state / "g.toml.pid").read_text())
        assert not monitor_path(ws).exists()
        os.kill(pid, 9)
        time.sleep(0.3)


# -- plug ----------------------------------------------------------------------------------

PLUGS = [["-drive", "file=b.img,if=virtio,format=raw"],
         ["-netdev", "user,id=n1", "-device", "e1000,netdev=n1,id=nic1"],
         ["-device", "usb-kbd,id=kbd"],
         ["-drive", "if=none,id=stick,file=d.img,format=raw",
          "-device", "usb-storage,drive=stick,id=usbstick"],
         ["-nic", "user,model=rtl8139,mac=52:54:00:00:00:99"]]


def test_plugged_devices_keep_their_places_on_the_next_launch(ws: Workspace) -> None:
    """A tombstone (the rng that left) is not taken; a relaunch with the plugged devices
    on its command line puts them where they were while plugged."""
    ok(ctl(ws, "plan", "--", *LINE))
    with Live(ws, [*LINE, *RNG]) as first:
        rng = first.seen()["rng"]
    with Live(ws, LINE) as running:
        qemu_own = running.hmp("info pci")
        for options in PLUGS:
            assert "plugged: " in ok(ctl(ws, "plug", "g", "--", *options))
        plugged = running.seen()
        assert "in step" in ok(ctl(ws, "sync", "g"))
    assert {"b.img", "nic1", "kbd", "usbstick"} <= set(plugged)
    nic = "52:54:00:00:00:99"
    assert len({slot_of(plugged[k]) for k in ("b.img", "nic1", nic)} | {slot_of(rng)}) == 4
    assert qemu_own  # the guest was up while plugging
    with Live(ws, [*LINE, *(w for options in PLUGS for w in options)]) as again:
        relaunched = again.seen()
    assert {k: relaunched[k] for k in plugged} == plugged


def test_plain_device_add_would_take_the_tombstone(ws: Workspace) -> None:
    """What the plug above guards against: QEMU's own choice is the lowest free slot."""
    with Live(ws, [*LINE, *RNG]) as first:
        rng = first.seen()["rng"]
    with Live(ws, LINE) as running:
        running.hmp("drive_add 0 if=none,id=d9,file=b.img,format=raw")
        assert running.hmp("device_add virtio-blk-pci,drive=d9,id=d9dev") == ""
        assert slot_of(running.seen()["d9dev"]) == slot_of(rng)


def test_a_plug_qemu_refuses_is_not_recorded(ws: Workspace) -> None:
    with Live(ws, LINE):
        before = (ws.state / "g.toml").read_text()
        refused = ctl(ws, "plug", "g", "--", "-device", "e1000,netdev=nowhere,id=x")
        assert refused.returncode == 1 and "QEMU refused -device e1000" in refused.stderr
        assert (ws.state / "g.toml").read_text() == before
        missing = ctl(ws, "plug", "g", "--", "-drive", "file=missing.img,if=virtio")
        assert missing.returncode == 2 and "does not exist" in missing.stderr
        bad = ctl(ws, "plug", "g", "--", "-m", "1G")
        assert bad.returncode == 2 and "cannot be hot-plugged" in bad.stderr
        twice = ctl(ws, "plug", "g", "--", "-device", "usb-kbd,id=tablet")
        assert twice.returncode == 1 and "id:tablet already" in twice.stderr
    stopped = ctl(ws, "plug", "g", "--", "-device", "usb-kbd,id=k")
    assert stopped.returncode == 1 and "not running with qemuwrap's monitor" in stopped.stderr


# -- unplug and sync -----------------------------------------------------------------------

def test_unplug_leaves_a_tombstone_that_a_new_device_does_not_take(ws: Workspace) -> None:
    with Live(ws, LINE) as running:
        ok(ctl(ws, "plug", "g", "--", "-device", "usb-kbd,id=kbd"))
        kbd = running.seen()["kbd"]
        assert "unplugged: id:kbd" in ok(ctl(ws, "unplug", "g", "kbd"))
        assert "kbd" not in running.seen()
        ok(ctl(ws, "plug", "g", "--", "-device", "usb-mouse,id=mouse"))
        mouse = running.seen()["mouse"]
        assert mouse[1] != kbd[1]
        shown = ok(ctl(ws, "show", "g"))
        assert "id:kbd (removed)" in shown and "in step" in shown
        # A PCI device goes only when the guest's OS lets it go: a paused guest never does.
        slow = ctl(ws, "unplug", "g", "nic0", "--timeout", "1")
        assert slow.returncode == 1 and "did not release id:nic0 within 1 s" in slow.stderr
        assert "id:nic0" in ok(ctl(ws, "show", "g")).split("(removed)")[0]


def test_devices_plugged_behind_qemuwraps_back_are_synced(ws: Workspace) -> None:
    """The user's own monitor adds a NIC and a keyboard and takes the tablet away; ``sync``
    records that, and the relaunch that names the new devices keeps them in place."""
    own = ws.root / "user.sock"
    args = [*LINE, "-qmp", f"unix:{own},server=on,wait=off"]
    with Live(ws, [*args, *RNG]):
        pass
    with Live(ws, args) as running:
        with qmp_client(own) as qmp:
            qmp.cmd("netdev_add", type="user", id="n9")
            qmp.cmd("device_add", driver="virtio-net-pci", netdev="n9", id="nic9")
            qmp.cmd("device_add", driver="usb-kbd", id="kbd")
            qmp.cmd("device_del", id="tablet")
        time.sleep(0.5)
        checked = ctl(ws, "check", "g")
        assert checked.returncode == 1 and "usb-tablet" in checked.stdout
        listed = ok(ctl(ws, "list"))
        # The keyboard took the last root port: QEMU put a hub there first, and it there.
        assert "differs: 3 unrecorded, 1 missing" in listed
        shown = ok(ctl(ws, "show", "g"))
        assert "live, not recorded: id:nic9" in shown and "recorded, not live: id:tablet" in shown
        synced = ok(ctl(ws, "sync", "g"))
        assert "recorded: id:nic9" in synced and "removed: id:tablet" in synced
        assert "recorded: bridge:usb-bus.0:2 -> usb-bus.0 port 2" in synced
        assert "ok: the" in ok(ctl(ws, "check", "g"))
        before = running.seen()
    at = args.index("usb-tablet,id=tablet")
    kept = args[:at - 1] + args[at + 1:]
    again_args = [*kept, "-netdev", "user,id=n9", "-device", "virtio-net-pci,netdev=n9,id=nic9",
                  "-device", "usb-kbd,id=kbd"]
    with Live(ws, again_args) as again:
        after = again.seen()
    assert after["nic9"] == before["nic9"] and after["kbd"] == before["kbd"]


def test_plug_needs_the_guests_name_and_options(ws: Workspace) -> None:
    assert ctl(ws, "plug", "g").returncode == 2
    assert ctl(ws, "unplug", "g").returncode == 2
    assert ctl(ws, "sync", "g", "--", "-m", "1").returncode == 2
    usage: dict[str, Any] = {s: ok(ctl(ws, s, "--help")) for s in ("plug", "unplug", "sync")}
    assert "-- OPTIONS..." in usage["plug"] and "--timeout" in usage["unplug"]


def test_devices_on_buses_qemuwrap_leaves_alone_are_no_drift(ws: Workspace) -> None:
    """A disk on a virtio-scsi controller of the line's own is QEMU's to place, launch
    after launch: a running guest with one is in step, and sync records nothing."""
    scsi = ["-device", "virtio-scsi-pci,id=vs", "-drive", "if=none,id=d1,file=c.img,format=raw",
            "-device", "scsi-hd,drive=d1,bus=vs.0"]
    with Live(ws, [*LINE, *scsi]) as running:
        assert "scsi-hd" in running.hmp("info qtree")
        assert "in step" in ok(ctl(ws, "list"))
        assert "in step" in ok(ctl(ws, "sync", "g"))


def test_a_plug_past_a_full_root_bus_adds_a_bridge_and_keeps_it(ws: Workspace) -> None:
    """The root bus full, qemuwrap hot-plugs a bridge first and the device behind it, off
    slot 0, which a hot-plugged bridge does not offer; the relaunch with the devices on
    the line has the bridge and them at the same places."""
    full = ["-name", "g", "-nodefaults",
            *(w for i in range(29) for w in ("-device", f"virtio-rng-pci,id=r{i}"))]
    extra = ["-device", "virtio-rng-pci,id=extra", "-device", "virtio-rng-pci,id=extra2"]
    with Live(ws, full) as running:
        first = ok(ctl(ws, "plug", "g", "--", *extra[:2]))
        assert "plugged: bridge:qwbr1 -> pci.0 1f.0" in first
        assert "plugged: id:extra -> qwbr1 01.0" in first
        assert "plugged: id:extra2 -> qwbr1 02.0" in ok(ctl(ws, "plug", "g", "--", *extra[2:]))
        plugged = running.seen()
    with Live(ws, [*full, *extra]) as again:
        relaunched = again.seen()
    assert {k: relaunched[k] for k in ("extra", "extra2")} == {
        k: plugged[k] for k in ("extra", "extra2")} == {"extra": ("qwbr1", "01.0", ""),
                                                      "extra2": ("qwbr1", "02.0", "")}


def test_on_q35_a_plug_goes_behind_a_free_root_port_and_stays_there(ws: Workspace) -> None:
    """The root complex takes no hot-plugged device: a NIC and a disk go behind the line's
    spare root ports, in their order (rp1 has the RNG), the relaunch with them on the line
    keeps them there, and a plug with no spare port left is refused before QEMU is asked."""
    line = ["-name", "g", "-M", "q35",
            *(w for n in (1, 2, 3) for w in ("-device", f"pcie-root-port,id=rp{n},chassis={n}")),
            "-device", "virtio-rng-pci,bus=rp1,id=rng"]
    nic = ["-nic", "user,model=virtio-net-pci,mac=52:54:00:00:00:42"]
    disk = ["-drive", "file=b.img,if=virtio,format=raw"]
    with Live(ws, line) as running:
        assert "-> rp2 00.0" in ok(ctl(ws, "plug", "g", "--", *nic))
        assert "-> rp3 00.0" in ok(ctl(ws, "plug", "g", "--", *disk))
        plugged = running.seen()
        before = (ws.state / "g.toml").read_text()
        refused = ctl(ws, "plug", "g", "--", "-device", "virtio-rng-pci,id=r2")
        assert refused.returncode == 1, refused.stderr
        assert "has 0 free pcie-root-port(s) and the plug needs 1" in refused.stderr
        assert (ws.state / "g.toml").read_text() == before
        assert "r2" not in running.seen()
    assert plugged["52:54:00:00:00:42"][:2] == ("rp2", "00.0")
    assert plugged["b.img"][:2] == ("rp3", "00.0")
    with Live(ws, [*line, *nic, *disk]) as again:
        relaunched = again.seen()
    mine = ("rng", "52:54:00:00:00:42", "b.img")  # QEMU's default NIC goes with -nic
    assert {k: relaunched[k] for k in mine} == {k: plugged[k] for k in mine}


BLOCKDEVS = [["-blockdev", "driver=raw,file.driver=file,file.filename=c.img,node-name=c0",
              "-device", "virtio-blk-pci,drive=c0,id=cdisk"],
             ["-blockdev", '{"driver": "raw", "file": {"driver": "file", "filename": "e.img"}, '
                           '"node-name": "e0"}',
              "-device", "virtio-blk-pci,drive=e0,id=edisk"]]


def test_blockdev_disks_plug_in_both_syntaxes_and_keep_their_places(ws: Workspace) -> None:
    """``-blockdev`` as key=value (HMP ``drive_add -n``) and as JSON (QMP ``blockdev-add``),
    relative file names as the script writes them; the relaunch keeps both disks."""
    with Live(ws, LINE) as running:
        for options in BLOCKDEVS:
            assert "plugged: id:" in ok(ctl(ws, "plug", "g", "--", *options))
        plugged = running.seen()
        assert "in step" in ok(ctl(ws, "sync", "g"))
    assert plugged["cdisk"][1] != plugged["edisk"][1]
    with Live(ws, [*LINE, *(w for options in BLOCKDEVS for w in options)]) as again:
        relaunched = again.seen()
    assert {k: relaunched[k] for k in ("cdisk", "edisk")} == {
        k: plugged[k] for k in ("cdisk", "edisk")}


def test_an_unplugged_or_refused_blockdev_leaves_no_node_behind(ws: Workspace) -> None:
    """Unlike a -drive, a -blockdev node stays until deleted: after an unplug, and after a
    plug QEMU refused half-way, the same options (the same node-name) plug again."""
    stick = ["-blockdev", "driver=raw,file.driver=file,file.filename=d.img,node-name=s0",
             "-device", "usb-storage,drive=s0,id=stick"]
    with Live(ws, LINE) as running:
        refused = ctl(ws, "plug", "g", "--", *stick[:3], "usb-storage,drive=s0,id=stick,x=1")
        assert refused.returncode == 1 and "QEMU refused -device" in refused.stderr
        ok(ctl(ws, "plug", "g", "--", *stick))
        where = running.seen()["stick"]
        assert "unplugged: id:stick" in ok(ctl(ws, "unplug", "g", "stick"))
        assert "stick" not in running.seen()
        assert "plugged: id:stick" in ok(ctl(ws, "plug", "g", "--", *stick))
        assert running.seen()["stick"] == where


def test_a_bridge_plugged_behind_qemuwraps_back_is_synced_with_its_devices(
        ws: Workspace) -> None:
    """Another monitor adds a PCI bridge and a device behind it: sync records both, the
    bridge as one of the user's own (its options from what the guest has), and the
    relaunch that names them, without addresses, has them where the guest had them."""
    with Live(ws, LINE) as running:
        running.hmp("device_add pci-bridge,id=br1,chassis_nr=7,addr=0x10")
        running.hmp("device_add virtio-rng-pci,bus=br1,addr=0x3,id=rngb")
        synced = ok(ctl(ws, "sync", "g"))
        assert "recorded: id:br1 -> pci.0 10.0" in synced
        assert "recorded: id:rngb -> br1 03.0" in synced
        assert "in step" in ok(ctl(ws, "sync", "g"))
        assert ok(ctl(ws, "check", "g")).startswith("ok: the 7 pinned devices")
        seen = running.seen()
    recorded = tomllib.loads((ws.state / "g.toml").read_text())["device"]
    bridge, = (t for t in recorded if t["key"] == "id:br1")
    assert (bridge["provides"], bridge["options"]) == ("br1", "pci-bridge,id=br1,chassis_nr=7")
    line = [*LINE, "-device", "pci-bridge,id=br1,chassis_nr=7",
            "-device", "virtio-rng-pci,bus=br1,id=rngb"]
    with Live(ws, line) as again:
        relaunched = again.seen()
    assert {k: relaunched[k] for k in ("br1", "rngb")} == {k: seen[k] for k in ("br1", "rngb")}
    assert seen["rngb"][:2] == ("br1", "03.0")


def test_a_migration_target_on_the_same_host_takes_the_monitor_over(ws: Workspace) -> None:
    """Migrating to a new QEMU process on the same host (a QEMU upgrade in place): the
    target, whose source holds the monitor's socket, listens beside it; once the guest
    runs there, qemuwrap-ctl finds it at the usual path, and plug goes to the target."""
    from test_migration import free_port

    port = free_port()
    incoming = ws.state / "g.toml.qmp.incoming"
    with Live(ws, LINE) as source:
        target = subprocess.Popen([*WRAPPER, *LINE, *PAUSED, "-incoming", f"tcp:127.0.0.1:{port}"],
                                  env=ws.env(), cwd=ws.root, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_for(incoming, target)
            assert ok(ctl(ws, "check", "g")).startswith("ok: "), "the source, before"
            with qmp_client(source.socket) as source_qmp:
                source_qmp.cmd("migrate", uri=f"tcp:127.0.0.1:{port}")
                deadline = time.monotonic() + 30
                while source_qmp.cmd("query-migrate").get("status") != "completed":
                    assert time.monotonic() < deadline, source_qmp.cmd("query-migrate")
                    time.sleep(0.1)
            assert "plugged: id:kbd" in ok(ctl(ws, "plug", "g", "--", "-device", "usb-kbd,id=kbd"))
            assert not incoming.exists()
            with qmp_client(source.socket) as now:
                assert now.cmd("query-status")["status"] not in ("postmigrate", "inmigrate")
                assert "kbd" in {c["name"] for c in now.cmd("qom-list", path="/machine/peripheral")}
            assert target.poll() is None
        finally:
            assert source.proc is not None
            source.proc.kill()  # postmigrate, and no longer reachable by the socket's path
            if incoming.exists():
                target.kill()
    target.wait(timeout=30)
    assert target.stderr is not None
    assert "without qemuwrap's monitor" not in target.stderr.read().decode()
