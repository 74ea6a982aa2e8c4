"""The wrapper as a process: queries and nameless runs pass through, errors are one line.

Promises 6 and 7 on the real binary: what qemuwrap does not manage reaches QEMU
untouched with no state written; the exec keeps the PID; a state file it cannot
read stops the launch, is named in the message, and is left as it was.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

import guest
from conftest import WRAPPER, Workspace, installed

pytestmark = pytest.mark.qemu


def run(ws: Workspace, args: list[str], prefix: list[str] = WRAPPER, input: str | None = None,
        **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*prefix, *args], env=ws.env(**env), cwd=ws.root, input=input,
                          capture_output=True, text=True, timeout=60, check=False)


def qmp_lines(*commands: str) -> str:
    lines = [{"execute": "qmp_capabilities"}, *({"execute": c} for c in commands),
             {"execute": "quit"}]
    return "".join(json.dumps(line) + "\n" for line in lines)


@pytest.mark.parametrize("query", [["-version"], ["-machine", "help"], ["-device", "help"],
                                   ["-name", "q", "-cpu", "help"], ["-name", "q", "-M", "?"]])
def test_queries_pass_through_without_state(ws: Workspace, query: list[str]) -> None:
    wrapped = run(ws, query)
    plain = subprocess.run([guest.QEMU, *query], capture_output=True, text=True, check=False)
    assert (wrapped.returncode, wrapped.stdout) == (plain.returncode, plain.stdout)
    assert not ws.state.exists()


def test_help_is_qemus_with_a_pointer_to_qemuwraps_own(ws: Workspace) -> None:
    done = run(ws, ["--help"])
    plain = subprocess.run([guest.QEMU, "--help"], capture_output=True, text=True, check=False)
    assert done.stdout == plain.stdout and done.returncode == 0
    assert done.stderr.count("\n") == 1 and "qemuwrap-ctl --help" in done.stderr


def test_libvirt_capability_probe_passes_through(ws: Workspace) -> None:
    done = run(ws, ["-S", "-no-user-config", "-nodefaults", "-nographic", "-machine",
                    "none,accel=tcg", "-name", "probe", "-qmp", "stdio"],
               input=qmp_lines("query-version"))
    assert done.returncode == 0, done.stderr
    assert '"qemu": {"micro"' in done.stdout
    assert not ws.state.exists()


def test_nameless_command_line_is_untouched(ws: Workspace) -> None:
    args = ["-drive", "file=a.img,if=virtio,format=raw", "-net", "nic", "-net", "user"]
    assert ws.wrapped(args).guest_view() == ws.plain(args).guest_view()
    assert not ws.state.exists()
    debug = run(ws, [*args, "-version"], QEMUWRAP_DEBUG="1")
    assert f"exec {guest.QEMU_PATH} {' '.join(args)} -version" in debug.stderr


def test_exec_keeps_the_pid(ws: Workspace) -> None:
    pidfile = ws.root / "qemu.pid"
    proc = subprocess.Popen([*WRAPPER, "-name", "pid", "-S", "-display", "none", "-pidfile",
                             str(pidfile), "-qmp", "stdio"], env=ws.env(), cwd=ws.root,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdin is not None
    assert "QMP" in proc.stdout.readline()
    assert int(pidfile.read_text()) == proc.pid
    proc.communicate(qmp_lines(), timeout=30)
    assert proc.returncode == 0


@pytest.mark.parametrize("content, message", [
    ("this is = = not toml", "not valid TOML"),
    ('schema_version = 99\nname = "bad"\nmachine = "pc"\n', "newer than this qemuwrap"),
    ('schema_version = 1\nname = "bad"\nmachine = "pc-i440fx-7.2"\n[[device]]\nkey = "x"\n',
     "device 'x': driver is missing"),
])
def test_unreadable_state_stops_the_launch(ws: Workspace, content: str, message: str) -> None:
    ws.state.mkdir()
    path = ws.state / "bad.toml"
    path.write_text(content)
    pidfile = ws.root / "qemu.pid"
    done = run(ws, ["-name", "bad", "-S", "-display", "none", "-pidfile", str(pidfile)])
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"qemuwrap: {path}") and message in done.stderr
    assert path.read_text() == content
    assert not pidfile.exists()


@pytest.mark.parametrize("args, message", [
    (["-device", '{"driver": "e1000"'], "invalid JSON"),
    (["-drive"], "requires an argument"),
    (["-device", "e1000,addr=0x40"], "out of range"),
    (["-device", "e1000,addr=0x5", "-device", "virtio-rng-pci,addr=5"], "already holds"),
])
def test_bad_command_lines_get_one_line(ws: Workspace, args: list[str], message: str) -> None:
    done = run(ws, ["-name", "bad", "-S", *args])
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr


def test_qemu_that_is_qemuwrap_itself_is_refused(ws: Workspace, tmp_path: Path) -> None:
    done = run(ws, ["-name", "loop", "-S"], QEMUWRAP_QEMU=WRAPPER[-1])
    assert done.returncode == 1 and "is qemuwrap itself" in done.stderr
    script = tmp_path / "fake-qemu"
    script.write_text(f"#!/bin/sh\nexec {' '.join(WRAPPER)} \"$@\"\n")
    script.chmod(0o755)
    done = run(ws, ["-name", "loop", "-S"], QEMUWRAP_QEMU=str(script))
    assert done.returncode == 1 and "leads back to qemuwrap" in done.stderr


def test_config_file_names_the_qemu(ws: Workspace) -> None:
    config = ws.root / "config.toml"
    config.write_text(f'qemu = "{guest.QEMU_PATH}"\n')
    env = ws.env(QEMUWRAP_CONFIG=str(config))
    del env["QEMUWRAP_QEMU"]
    done = subprocess.run([*WRAPPER, "-version"], env={**env, "PATH": "/nonexistent"},
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "QEMU emulator" in done.stdout


@pytest.mark.parametrize("command", ["qemu-kvm", "kvm"])
def test_invoked_as_qemu_kvm_adds_kvm(ws: Workspace, tmp_path: Path, command: str) -> None:
    """``kvm`` is Debian's old name for it, still in scripts."""
    link = tmp_path / command
    link.symlink_to(WRAPPER[-1])
    done = run(ws, ["-name", "kvm", "-S", "-display", "none", "-qmp", "stdio"],
               prefix=[WRAPPER[0], "-I", str(link)], input=qmp_lines("query-kvm"),
               QEMUWRAP_DEBUG="1")
    assert "-accel kvm" in done.stderr.splitlines()[0]
    if guest.accel() == "kvm":
        assert '"enabled": true' in done.stdout
    explicit = run(ws, ["-name", "kvm", "-accel", "tcg", "-version"],
                   prefix=[WRAPPER[0], "-I", str(link)], QEMUWRAP_DEBUG="1")
    assert "-accel kvm" not in explicit.stderr
    assert os.path.exists(ws.state / "kvm.toml")


def test_runs_isolated_from_the_callers_pythonpath(ws: Workspace, tmp_path: Path) -> None:
    evil = tmp_path / "evil" / "qemuwrap"
    evil.mkdir(parents=True)
    (evil / "__init__.py").write_text("")
    (evil / "launch.py").write_text("raise SystemExit('imported from PYTHONPATH')\n")
    script = installed("qemuwrap")
    assert script, "the qemuwrap script is installed (pip install -e .)"
    for command in ([WRAPPER[-1]], [script]):
        done = subprocess.run([*command, "-name", "iso", "-version"], env=ws.env(
            PYTHONPATH=str(evil.parent)), capture_output=True, text=True, check=False)
        assert done.returncode == 0 and "QEMU emulator" in done.stdout, (command, done.stderr)
