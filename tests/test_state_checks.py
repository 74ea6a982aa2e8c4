"""A hand-edited state is checked, not trusted.

Each kind of malformed value is written into a state qemuwrap wrote for a real
guest; the next launch (replayed or not) must stop with one line naming the
file, the entry and the field, start no QEMU and leave the file as it was.
``qemuwrap-ctl show`` still shows the file, marking what is wrong. And a state
that loads renders, pin by pin, into exactly the place arguments it says.
"""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qemuwrap import qemuopts, render, schema, state
from qemuwrap.errors import StateError
from qemuwrap.model import Device
from qemuwrap.spaces import Placement, pci

from conftest import WRAPPER, Workspace

pytestmark = pytest.mark.qemu
LINE = ["-name", "edit", "-M", "q35", "-drive", "file=a.img,if=virtio,format=raw",
        "-drive", "file=b.img,format=raw", "-nic", "user,model=virtio",
        "-usb", "-device", "usb-tablet", "-device", "usb-kbd",
        "-device", "pcie-root-port,id=rp1,chassis=1",
        "-device", "virtio-rng-pci,bus=rp1"]
DEBUG = {"QEMUWRAP_DEBUG": "1"}

EDITS = {
    "bus-with-a-property": (r'bus = "pcie.0"\nspace = "pci"\nslot = 2\n',
                            'bus = "pcie.0,romfile=/etc/shadow"\nspace = "pci"\nslot = 2\n',
                            "bus 'pcie.0,romfile=/etc/shadow' is not a bus name"),
    "slot": (r"slot = 2\n", "slot = 99\n", "slot 99 is out of range (0 to 31)"),
    "function": (r"function = 0\n", "function = 9\n", "function 9 is out of range (0 to 7)"),
    "ide-unit": (r'bus = "ide.0"\nspace = "ide"\nunit = 0',
                 'bus = "ide.0"\nspace = "ide"\nunit = 7',
                 "unit 7 is out of range (0 to 0) on ide.0"),
    "mac": (r'mac = "52:54:00:12:34:56"', 'mac = "zz:zz"', "mac 'zz:zz' is not a MAC address"),
    "multicast-mac": (r'mac = "52:54:00:12:34:56"', 'mac = "53:54:00:12:34:56"',
                      "is a multicast address"),
    "usb-port": (r'port = "1"', 'port = "16"', "port '16' has a port above 15"),
    "usb-port-form": (r'port = "1"', 'port = "1.x"', "port '1.x' is not a USB port path"),
    "driver": (r'driver = "virtio-blk-pci"', 'driver = "virtio-blk-pci,x=1"',
               "driver 'virtio-blk-pci,x=1' is not a QEMU device name"),
    "key": (r'key = "disk:a.img"', 'key = "a.img"', "key 'a.img' is none of the documented forms"),
    "last-seen": (r"last_seen = .*", 'last_seen = "yesterday"',
                  "last_seen 'yesterday' is not a TOML date-time"),
    "options": (r'options = "pcie-root-port,id=rp1,chassis=1"',
                'options = "pcie-root-port,id=rp1,chassis=1,bus=pcie.0"',
                "has a bus or addr"),
    "space": (r'space = "pci"', 'space = "usb"',
              "space 'usb' is not where the entry's place is ('pci')"),
    "space-name": (r'space = "pci"', 'space = "floppy"',
                   "space 'floppy' is none of ide, isa, pci, scsi, usb"),
    "machine": (r'machine = "pc-q35-7.2"', 'machine = "pc-q35-7.2 --evil"',
                "machine 'pc-q35-7.2 --evil' is not a machine type"),
    "field-typo": (r"slot = 2\n", "solt = 2\n",
                   "solt is not a field qemuwrap knows; a typo of 'slot'?"),
    "optional-field-typo": (r'mac = "52:54:00:12:34:56"', 'mca = "52:54:00:12:34:56"',
                            "mca is not a field qemuwrap knows; a typo of 'mac'?"),
    "top-level-typo": (r"last_launch = ", "last_lanch = ",
                       "last_lanch is not a field qemuwrap knows; a typo of 'last_launch'?"),
}
"""Edits of a state qemuwrap wrote: (what the first match of a pattern becomes, message)."""


def launch(ws: Workspace, args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*WRAPPER, *args, "-S", "-display", "none", "-qmp", "stdio"],
                          env=ws.env(**env), cwd=ws.root, capture_output=True, text=True,
                          input='{"execute":"qmp_capabilities"}\n{"execute":"quit"}\n',
                          timeout=60, check=False)


def ctl(ws: Workspace, *args: str) -> subprocess.CompletedProcess[str]:
    command = [*WRAPPER[:-1], str(Path(WRAPPER[-1]).with_name("qemuwrap-ctl")), *args]
    return subprocess.run(command, env=ws.env(), capture_output=True, text=True, check=False)


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_a_malformed_value_stops_the_launch_naming_file_entry_and_field(
        ws: Workspace, edit: str) -> None:
    pattern, new, message = EDITS[edit]
    assert launch(ws, LINE).returncode == 0
    again = launch(ws, LINE, **DEBUG)
    assert "exec (replayed)" in again.stderr, "the daily launch is replayed"
    path = ws.state / "edit.toml"
    spoilt, edits = re.subn(pattern, new, path.read_text(), count=1)
    assert edits == 1, (edit, path.read_text())
    path.write_text(spoilt)
    pidfile = ws.root / "qemu.pid"
    done = launch(ws, [*LINE, "-pidfile", str(pidfile)], **DEBUG)
    assert done.returncode == 1
    line, = done.stderr.splitlines()
    assert line.startswith(f"qemuwrap: {path}: ") and message in line, line
    assert "nothing was started or changed" in line
    entry = re.search(r": (?:device|tombstone) '([^']*)': ", line)
    assert entry or edit in ("machine", "top-level-typo"), line
    assert path.read_text() == spoilt and not pidfile.exists()
    shown = ctl(ws, "show", "edit")
    assert shown.returncode == 1 and message in shown.stdout, shown.stdout + shown.stderr
    if entry:
        assert any(row.endswith("<- wrong") and entry.group(1) in row
                   for row in shown.stdout.splitlines()), shown.stdout
    for write in (["forget", "edit", "--yes"], ["pin", "edit", "disk:a.img", "9"],
                  ["rename", "edit", "a.img", "c.img"]):
        refused = ctl(ws, *write)
        assert refused.returncode == 1 and message in refused.stderr, (write, refused.stderr)
    assert path.read_text() == spoilt


def test_unknown_fields_are_kept_and_written_back(ws: Workspace) -> None:
    """A field this qemuwrap does not know (a newer one's, or the user's note) is no
    error: the launch, a removal and a return, and a ctl edit all write it back where it
    was, in the entry or at the top of the document."""
    assert launch(ws, LINE).returncode == 0
    path = ws.state / "edit.toml"
    text = path.read_text()
    text = text.replace('key = "disk:a.img"\n', 'key = "disk:a.img"\nnote = "the boot disk"\n'
                        'wwn = { vendor = 1, serial = [2, 3] }\n', 1)
    path.write_text(text.replace("\n\n[[device]]", '\nowner = "ops"\n\n[[device]]', 1))
    before = state.load(path)
    assert before is not None and before.extra == {"owner": "ops"}

    def entry(doc: dict[str, object], kind: str = "device") -> dict[str, object]:
        tables = doc.get(kind)
        assert isinstance(tables, list)
        found, = (t for t in tables if t["key"] == "disk:a.img")
        return dict(found)

    def written() -> dict[str, object]:
        return tomllib.loads(path.read_text())

    done = launch(ws, LINE, **DEBUG)
    assert done.returncode == 0 and "(replayed)" not in done.stderr, done.stderr
    expected = {"note": "the boot disk", "wwn": {"vendor": 1, "serial": [2, 3]}}
    assert written()["owner"] == "ops"
    assert {k: entry(written())[k] for k in expected} == expected
    slot = entry(written())["slot"]
    without_a = [*LINE[:4], *LINE[6:]]
    assert launch(ws, without_a).returncode == 0
    assert {k: entry(written(), "tombstone")[k] for k in expected} == expected
    assert launch(ws, LINE).returncode == 0
    assert {k: entry(written())[k] for k in (*expected, "slot")} == {**expected, "slot": slot}
    assert ctl(ws, "pin", "edit", "disk:a.img", "9").returncode == 0
    assert {k: entry(written())[k] for k in (*expected, "slot")} == {**expected, "slot": 9}
    assert written()["owner"] == "ops"


def test_the_known_fields_of_an_entry_are_the_pins() -> None:
    assert set(state.PIN_FIELDS) == schema.DEVICE_FIELDS


def test_an_edit_that_puts_size_and_mtime_back_is_not_replayed(ws: Workspace) -> None:
    """The replay record knows the state file by inode, size, mtime and ctime."""
    assert launch(ws, LINE).returncode == 0
    assert "exec (replayed)" in launch(ws, LINE, **DEBUG).stderr
    path = ws.state / "edit.toml"
    before = os.stat(path)
    with open(path, "r+") as f:
        text = f.read()
        f.seek(0)
        f.write(text.replace("slot = 2\n", "slot = 9\n", 1))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(path)
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino, before.st_size, before.st_mtime_ns)
    done = launch(ws, LINE, **DEBUG)
    assert "(replayed)" not in done.stderr
    assert done.returncode == 0, done.stderr
    assert "addr=0x9" in done.stderr, "the edited (well-formed) slot is used"


def test_a_pin_on_a_bus_the_line_no_longer_makes_is_no_error(ws: Workspace) -> None:
    """The root port is gone from the line; the RNG that sat behind it stays, without a bus:
    its well-formed pin on rp1 is not an error (the RNG is placed as the README says)."""
    assert LINE[-4:] == ["-device", "pcie-root-port,id=rp1,chassis=1",
                         "-device", "virtio-rng-pci,bus=rp1"]
    assert launch(ws, LINE).returncode == 0
    done = launch(ws, [*LINE[:-4], "-device", "virtio-rng-pci"], **DEBUG)
    assert done.returncode == 0, done.stderr
    assert "virtio-rng-pci,bus=pcie.0" in done.stderr


# -- the property: a state that loads renders into exactly the places it says -----------------

T = datetime(2026, 1, 1, tzinfo=UTC)
VALID: list[dict[str, object]] = [
    {"key": "disk:a.img", "driver": "virtio-blk-pci", "bus": "pci.0", "slot": 4, "function": 0},
    {"key": "e1000#0", "driver": "e1000", "bus": "pcie.0", "slot": 2, "function": 0,
     "mac": "52:54:00:12:34:56"},
    {"key": "board:cdrom", "driver": "ide-cd", "bus": "ide.1", "unit": 0},
    {"key": "disk:s.img", "driver": "scsi-hd", "bus": "scsi0.0", "unit": 3},
    {"key": "usb-tablet#0", "driver": "usb-tablet", "bus": "usb-bus.0", "port": "2.1"},
    {"key": "bridge:usb-bus.0:2", "driver": "usb-hub", "bus": "usb-bus.0", "port": "2",
     "provides": "usb-bus.0:2"},
    {"key": "bridge:qwbr1", "driver": "pci-bridge", "bus": "pci.0", "slot": 31, "function": 0,
     "provides": "qwbr1", "chassis": 1},
    {"key": "id:rp1", "driver": "pcie-root-port", "bus": "pcie.0", "slot": 2, "function": 1,
     "provides": "rp1", "options": "pcie-root-port,id=rp1,chassis=1"},
    {"key": "id:rp2", "driver": "pcie-root-port", "bus": "pcie.0", "slot": 3, "function": 0,
     "provides": "rp2", "options": '{"driver": "pcie-root-port", "id": "rp2", "chassis": 2}'},
    {"key": "mac:52:54:00:aa:bb:cc", "driver": "ne2k_isa", "bus": "isa",
     "mac": "52:54:00:aa:bb:cc"},
]
"""One pin of each kind qemuwrap writes."""
hostile = st.one_of(st.sampled_from([
    "pci.0,addr=3", "pci.0,romfile=/etc/shadow", "a b", "", "x=y", "ide.0,unit=1", "e1000,x=1",
    "usb-hub", "1", "2.1", "16", "0", "1.x", "ff:ff:ff:ff:ff:ff", "53:54:00:12:34:56", "zz:zz",
    "pcie-root-port,id=rp1,bus=pcie.0", "pcie-root-port,id=other", '{"driver": "x"}', "qwbr1",
    "usb-bus.0:3", "disk:", "moved:x", "x#y", "e1000#0,bus=x", "ide.9", "pci.0\n-device x"]),
    st.text(max_size=6), st.integers(-2, 300), st.just(T), st.none())
FIELDS = ("key", "driver", "bus", "slot", "function", "unit", "port", "mac", "provides",
          "chassis", "options", "last_seen")


@st.composite
def tables(draw: st.DrawFn) -> dict[str, object]:
    """A valid pin with up to two fields changed (or dropped) to something hostile."""
    table = dict(draw(st.sampled_from(VALID)))
    for field in draw(st.lists(st.sampled_from(FIELDS), max_size=2)):
        value = draw(hostile)
        if value is None:
            table.pop(field, None)
        else:
            table[field] = value
    return table


@settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck),
          derandomize=os.environ.get("CI") == "true")
@given(st.lists(tables(), min_size=1, max_size=3),
       st.sampled_from(["pc-i440fx-7.2", "pc-q35-7.2"]))
def test_a_state_that_loads_renders_into_exactly_its_places(
        devices: list[dict[str, object]], machine: str) -> None:
    doc = {"schema_version": state.SCHEMA_VERSION, "name": "p", "machine": machine,
           "device": devices}
    LOADED.append(False)
    try:
        loaded = state.parse(tomli_w.dumps(doc), Path("p.toml"))
    except StateError:
        return
    LOADED[-1] = True
    for pin in loaded.devices:
        words = place_words(pin)
        assert len(words) == 2 and words[0] in ("-device", "-nic")
        given = words[1]
        props = qemuopts.properties(given, "driver")
        if words[0] == "-nic":  # an ISA NIC stays a -nic, with its MAC (README)
            assert props == {"driver": "user", "model": pin.driver, "mac": pin.mac}, given
            continue
        assert props["driver"] == pin.driver
        assert qemu_id(pin.bus), f"QEMU has no bus named {pin.bus!r}"
        expected = {"bus": pin.bus}
        if pin.slot is not None:
            function = pin.function or 0  # a hand-edit may leave it out: function 0
            assert 0 <= pin.slot < 32 and 0 <= function < 8
            expected["addr"] = pci.addr(pin.slot, function)
        if pin.unit is not None and pin.driver.startswith("scsi-"):
            expected |= {"scsi-id": str(pin.unit), "lun": "0"}
        elif pin.unit is not None:
            expected["unit"] = str(pin.unit)
        if pin.port is not None:
            expected["port"] = pin.port
            assert all(1 <= int(p) <= 15 for p in pin.port.split("."))
        if pin.mac is not None:
            expected["mac"] = pin.mac
            assert not int(pin.mac[:2], 16) & 1
        assert {k: str(props[k]) for k in expected if k in props} == expected, (pin, given)
        own = {"driver", "id", "chassis_nr", "chassis", *expected}
        extra = set(props) - own
        assert not extra or pin.options is not None, f"{pin} smuggles {extra} into {given}"


LOADED: list[bool] = []


def qemu_id(name: str) -> bool:
    """QEMU's ``id_wellformed``: a letter, then letters, digits, ``-``, ``.``, ``_``."""
    return bool(name) and name[0].isascii() and name[0].isalpha() and all(
        c.isascii() and (c.isalnum() or c in "-._") for c in name)


def test_the_property_saw_states_that_load() -> None:
    """Runs after the property (file order): most drawn states broke a rule, but enough
    loaded for the property to mean something."""
    assert len(LOADED) >= 1000 and sum(LOADED) >= len(LOADED) // 10, (sum(LOADED), len(LOADED))


def place_words(pin: state.Pin) -> list[str]:
    """The words a launch gives QEMU for this pin: the bridge a launch puts back, or a
    device at the pin's place (render.device_words, as for any device)."""
    if pin.provides is not None and pin.driver != "usb-hub":
        return render.bridge_words(pin)
    space = ("isa" if pin.bus == schema.ISA_BUS else "usb" if pin.port else
             "pci" if pin.slot is not None else
             "scsi" if pin.driver.startswith("scsi-") else "ide")
    placement = Placement(pin.bus, pin.slot, pin.function or 0, pin.unit, pin.port, pin.mac)
    if space == "isa":
        legacy = ("nic", qemuopts.Opts((("type", "user"), ("model", pin.driver))), "mac")
        return render.device_words(Device(driver=pin.driver, space="isa", order=(0,),
                                          nic=True, legacy=legacy), placement)
    device = Device(driver=pin.driver, space=space, order=(0,), nic=pin.mac is not None)
    return render.device_words(device, placement)


def test_a_released_schema_1_file_migrates_to_the_current_schema() -> None:
    """The golden case's input is a file as qemuwrap 0.1 wrote it (schema 1): each entry
    gets its space, and what is written back reads the same."""
    source = Path(__file__).parent / "data" / "pinned-state" / "state.toml"
    old = state.parse(source.read_text(), source)
    assert [(p.key, p.space) for p in (*old.devices, *old.tombstones)] == [
        ("disk:a.img", "pci"), ("virtio-net-pci#0", "pci"), ("board:vga", "pci"),
        ("disk:old.img", "pci")]
    written = state.render(old)
    assert written.startswith(f"schema_version = {state.SCHEMA_VERSION}\n")
    assert written.count('space = "pci"') == 4
    assert state.parse(written, source) == old


def test_unknown_fields_of_a_released_schema_1_file_survive_its_migration() -> None:
    """A field this qemuwrap does not know, in a file as qemuwrap 0.1 wrote it, is written
    back where it stood after the migration to the current schema."""
    source = Path(__file__).parent / "data" / "pinned-state" / "state.toml"
    text = source.read_text().replace('created = ', 'site = "lab-2"\ncreated = ', 1)
    text = text.replace('key = "disk:old.img"\n', 'key = "disk:old.img"\nnote = "retired"\n', 1)
    migrated = state.parse(text, source)
    assert migrated.extra == {"site": "lab-2"}
    old, = migrated.tombstones
    assert (old.extra, old.space) == ({"note": "retired"}, "pci")
    written = tomllib.loads(state.render(migrated))
    assert written["schema_version"] == state.SCHEMA_VERSION and written["site"] == "lab-2"
    assert written["tombstone"][0]["note"] == "retired"
