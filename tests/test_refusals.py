"""A launch QEMU would refuse changes nothing, and a migration target without state waits.

What qemuwrap can see is refused before any state is written (an option or a
device the binary does not offer, a missing local image), with one line; where
QEMU refuses later, the next good launch gets back what it had. An ``-incoming``
launch with no state, whose devices' places would be chosen now, is refused
with the commands that copy the state over.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from qemuwrap.cmdline import tokenise
from qemuwrap.errors import UsageError
from qemuwrap.preflight import check_images

from conftest import WRAPPER, Workspace
from test_libvirt import ARGV, runnable

pytestmark = pytest.mark.qemu
GOOD = ["-name", "typo", "-drive", "file=a.img,if=virtio,format=raw",
        "-net", "nic,model=virtio", "-net", "user"]


def attempt(ws: Workspace, args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*WRAPPER, *args, "-S", "-display", "none"], env=ws.env(),
                          cwd=ws.root, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL, check=False)


def files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir() if p.is_file()}


@pytest.mark.parametrize(("bad", "message"), [
    (["-nte", "nic,model=virtio"], "-nte is not an option of "),
    (["-device", "virtio-net-pcii"], "has no device 'virtio-net-pcii'"),
    (["-net", "nic,model=virtio-nett"], "has no device 'virtio-nett'"),
    (["-drive", "file=missing.img,if=virtio"], "image missing.img (in -drive"),
    (["-hdb", "gone/b.img"], "image gone/b.img (in -hdb gone/b.img) does not exist"),
])
def test_what_qemu_would_refuse_is_refused_before_any_state_is_written(
        ws: Workspace, bad: list[str], message: str) -> None:
    first = ws.wrapped(GOOD)
    before = files(ws.state)
    done = attempt(ws, [*GOOD[:4], *bad, *GOOD[4:]])
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("qemuwrap: ") and message in lines[0], lines
    assert "nothing was started or changed" in lines[0]
    assert files(ws.state) == before, "the refused launch wrote nothing"
    assert ws.wrapped(GOOD).guest_view() == first.guest_view()


def test_after_a_launch_qemu_refused_the_good_line_gets_back_what_it_had(ws: Workspace) -> None:
    """A property QEMU checks itself (qemuwrap does not) fails after the state was saved;
    the line that worked before still gives the guest exactly what it had."""
    first = ws.wrapped(GOOD)
    broken = attempt(ws, [*GOOD[:4], "-net", "nic,model=e1000,bogus=1", "-net", "user"])
    assert broken.returncode != 0 and "bogus" in broken.stderr
    assert ws.wrapped(GOOD).guest_view() == first.guest_view()


@pytest.mark.parametrize("path", ["nbd:localhost:10809", "nbd://localhost/x", "rbd:pool/img",
                                  "iscsi://127.0.0.1/iqn.2001-04.com.example/1", "json:{}",
                                  "/dev/fdset/3", "gluster+tcp://h/v/img"])
def test_only_plain_local_paths_are_checked(path: str) -> None:
    nowhere = lambda _p: False  # noqa: E731
    check_images(tokenise(["-drive", f"file={path},if=virtio"]), nowhere)
    check_images(tokenise(["-drive", "if=none,id=d,file.driver=nbd,file.host=h,file=x"]),
                 nowhere)
    check_images(tokenise(["-blockdev", '{"driver":"file","filename":"/dev/fdset/2",'
                           '"node-name":"n"}']), nowhere)
    with pytest.raises(UsageError, match="does not exist"):
        check_images(tokenise(["-blockdev", '{"driver":"file","filename":"/no/x.img",'
                               '"node-name":"n"}']), nowhere)
    with pytest.raises(UsageError, match="does not exist"):
        check_images(tokenise(["x.img"]), nowhere)


TWO_DISKS = ["-name", "mig", "-drive", "file=a.img,if=virtio,format=raw",
             "-drive", "file=b.img,if=virtio,format=raw", "-nodefaults"]


def test_an_incoming_launch_without_state_is_refused(ws: Workspace) -> None:
    done = attempt(ws, [*TWO_DISKS, "-incoming", "defer"])
    assert done.returncode == 1
    line, = done.stderr.splitlines()
    assert "no state on this host" in line and "disk:a.img" in line and "machine default" in line
    assert "qemuwrap-ctl export mig > mig.toml" in line
    assert "qemuwrap-ctl import mig mig.toml" in line
    assert not (ws.state / "mig.toml").exists()


def test_an_incoming_launch_starts_once_the_state_is_imported(ws: Workspace,
                                                              tmp_path: Path) -> None:
    source = ws.wrapped(TWO_DISKS).identified()
    exported = tmp_path / "mig.toml"
    exported.write_bytes((ws.state / "mig.toml").read_bytes())
    (ws.state / "mig.toml").unlink()
    ctl = [*WRAPPER[:-1], str(Path(WRAPPER[-1]).with_name("qemuwrap-ctl"))]
    imported = subprocess.run([*ctl, "import", "mig", str(exported)], env=ws.env(),
                              capture_output=True, text=True, check=False)
    assert imported.returncode == 0, imported.stderr
    installed = (ws.state / "mig.toml").read_bytes()
    reordered = ["-name", "mig", "-drive", "file=b.img,if=virtio,format=raw",
                 "-drive", "file=a.img,if=virtio,format=raw", "-nodefaults"]
    target = ws.wrapped([*reordered, "-incoming", "defer"])
    assert target.identified() == source, "each disk where the source has it"
    assert (ws.state / "mig.toml").read_bytes() == installed, "an -incoming launch writes nothing"


def test_a_line_that_places_everything_itself_needs_no_state(ws: Workspace) -> None:
    """libvirt's: versioned machine, -nodefaults, every device with its bus and addr."""
    args = runnable(shlex.split(ARGV.read_text()), ws.root)
    plain = ws.plain([*args, "-incoming", "defer"])
    wrapped = ws.wrapped([*args, "-incoming", "defer"])
    assert wrapped.pci == plain.pci
    assert not (ws.state / "lvguest.toml").exists(), "an -incoming launch writes no state"
