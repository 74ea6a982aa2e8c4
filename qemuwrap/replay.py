"""The daily launch, replayed: the same command line on the same state and binary runs the
argv qemuwrap worked out last time, without loading the pipeline.

Every launch that plans and saves also records, beside the state, what it ran and
what it ran it from: the command line (with the name qemuwrap was called by, the
QEMU it was told to use, and ``PATH``, where it looks for one), and the identity
(inode, size, mtime, ctime) of the state file, the binary and the config file, and of
qemuwrap's own modules (size, mtime). When all of them are still the same, the
planner would produce the same argv again, so it is replayed directly. Anything
different (an edit of the state by qemuwrap-ctl, a QEMU or qemuwrap upgrade,
another option) falls through to the full pipeline.

"The same command line" allows what libvirt changes at every start of a domain: the
descriptor numbers and the ``domain-N-NAME`` directory in the backends qemuwrap passes
on untouched (``-chardev``, ``-netdev``, ``-object``, ``-add-fd``). Those words are
masked in the record's key and put, as they are now, where the recorded argv has them;
a record whose argv does not have each of them exactly once, as given, replays only
its very own command line.

The point is speed, so this module imports only modules compiled into the
interpreter (os, stat, sys, marshal), and bin/qemuwrap runs it before ``site``,
whose ``.pth`` files can cost more than the whole interpreter start.

Not replayed: ``-readconfig`` (the file may have changed) and ``-incoming``. A
replayed launch does not rewrite the state (its ``last_launch``/``last_seen`` stay);
it touches its record instead, which ``qemuwrap-ctl list`` reads as the last launch.
"""

from __future__ import annotations

import marshal
import os
import stat
import sys

from qemuwrap import fds, paths

__all__ = ["PER_START_OPTIONS", "VERSION", "last_replayed", "lookup", "run", "store"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

VERSION = 6


def _identity(path: str) -> tuple[int, int, int, int] | None:
    """A file as it is now: any write changes one of these, even one that puts the size and
    mtime back (a hand-edit of the state must be planned, and so checked, anew)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _code() -> list[tuple[str, int, int]] | None:
    """The identity of qemuwrap's own modules: after an upgrade or an edit, plan anew.
    None where they cannot be listed (never replayed then)."""
    found = []
    try:
        with os.scandir(os.path.dirname(__file__)) as entries:
            for entry in entries:
                if entry.name.endswith(".py"):
                    st = entry.stat()
                    found.append((entry.name, st.st_size, st.st_mtime_ns))
    except OSError:
        return None
    return sorted(found)


PER_START_OPTIONS = frozenset({"-chardev", "-netdev", "-object", "-add-fd"})
"""Backends qemuwrap passes on as they are, where libvirt writes what changes at every
start of a domain: descriptor numbers and its ``domain-N-NAME`` directory."""
_DIRECTORY = ("domain-",)


def _masked(word: str) -> str:
    """``word`` with its descriptor numbers and libvirt's domain number as ``#``."""
    out, i = [], 0
    for start, end in fds.runs(word, fds.PREFIXES + _DIRECTORY):
        out += [word[i:start], "#"]
        i = end
    return "".join(out) + word[i:]


def _per_start(argv: list[str]) -> list[int]:
    """The positions of the words whose per-start parts are masked in the key."""
    return [i for i in range(2, len(argv))
            if argv[i - 1] in PER_START_OPTIONS and _masked(argv[i]) != argv[i]]


def _key(argv: list[str]) -> list[str]:
    """What decides the output besides the files: the command line (its per-start parts
    masked) and the environment."""
    words = list(argv[1:])
    for i in _per_start(argv):
        words[i - 1] = _masked(argv[i])
    return [str(VERSION), sys.version, os.path.basename(argv[0]),
            os.environ.get("QEMUWRAP_QEMU", ""), paths.config_file(),
            os.environ.get("PATH", ""), *words]


def _template(argv: list[str], out: list[str]) -> list[tuple[int, int]] | None:
    """Where each per-start word of ``argv`` stands in ``out``, unchanged, as (out
    position, argv position); None when one does not stand there exactly once (qemuwrap
    rewrote it): then only this very command line is replayed."""
    template = []
    for i in _per_start(argv):
        at = [j for j, word in enumerate(out) if word == argv[i]]
        if len(at) != 1 or argv.count(argv[i]) != 1:
            return None
        template.append((at[0], i))
    return template


def _file(directory: str, key: list[str]) -> str:
    """A short name for the key, from arithmetic alone (zlib or hashlib would cost a
    library load): a clash costs only speed, as the record holds its whole key."""
    data = "\0".join(key).encode("utf-8", "surrogateescape")
    digest = int.from_bytes(data, "big") % 0xFFFFFFFB
    return os.path.join(directory, ".replay", f"{digest:08x}")


def store(state_dir: str, argv: list[str], state_path: str, binary: str,
          out: list[str], monitor: tuple[str, int] | None) -> None:
    """Record a planned launch (``monitor``: the socket it listens on for QEMU, and the
    descriptor); a record that cannot be written only costs speed."""
    key = _key(argv)
    record: dict[str, Any] = {
        "key": key, "state": state_path, "state_id": _identity(state_path),
        "binary": binary, "binary_id": _identity(binary),
        "config_id": _identity(paths.config_file()), "code": _code(), "argv": out,
        "monitor": list(monitor) if monitor else None, "given": argv,
        "template": _template(argv, out)}
    path = _file(state_dir, key)
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(marshal.dumps(record))
        os.replace(tmp, path)
    except OSError:
        pass


def last_replayed(state_dir: str) -> dict[str, float]:
    """State file -> when a launch of it was last replayed (the records' mtimes)."""
    out: dict[str, float] = {}
    directory = os.path.join(state_dir, ".replay")
    try:
        names = os.listdir(directory)
    except OSError:
        return out
    for name in names:
        path = os.path.join(directory, name)
        try:
            with open(path, "rb") as f:
                record = marshal.loads(f.read())
            when = os.stat(path).st_mtime
        except (OSError, ValueError, EOFError, TypeError):
            continue
        if isinstance(record, dict) and isinstance(record.get("state"), str):
            out[record["state"]] = max(when, out.get(record["state"], 0.0))
    return out


def lookup(argv: list[str]) -> tuple[str, list[str], str, str, Any] | None:
    """(binary, argv for it, state path, record, monitor) if this exact launch can be
    replayed."""
    if any(a in ("-readconfig", "--readconfig", "-incoming", "--incoming") for a in argv[1:]):
        return None
    if os.environ.get("QEMUWRAP_EXEC"):
        return None
    key = _key(argv)
    understood, configured = paths.configured_state_dir()
    if not understood:
        return None
    path = _file(paths.state_dir(configured), key)
    try:
        directory = os.stat(os.path.dirname(path), follow_symlinks=False)
        if (directory.st_uid != os.geteuid() or not stat.S_ISDIR(directory.st_mode)
                or directory.st_mode & 0o022):
            return None
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as f:
            record = marshal.loads(f.read())
    except (OSError, ValueError, EOFError, TypeError):
        return None
    if not isinstance(record, dict) or record.get("key") != key:
        return None
    try:
        if (_identity(record["state"]) != record["state_id"] or record["state_id"] is None
                or _identity(record["binary"]) != record["binary_id"]
                or _identity(paths.config_file()) != record["config_id"]
                or record.get("code") is None or record.get("code") != _code()):
            return None
        out = [str(a) for a in record["argv"]]
        if record["template"] is None and record["given"] != argv:
            return None
        for at, i in record["template"] or ():
            out[at] = argv[i]
        return str(record["binary"]), out, record["state"], path, record.get("monitor")
    except (KeyError, TypeError, ValueError):
        return None


def _listen(path: str, fd: int, argv: list[str]) -> bool:
    """The monitor's socket on the descriptor the recorded argv names; False where that
    cannot be (the descriptor is open or named by this command line, the socket in use):
    the full pipeline decides."""
    from qemuwrap import monitor

    named = fd in fds.named(argv[1:])
    return not named and not monitor.is_open(fd) and monitor.listen(path, fd) is None


def run(argv: list[str]) -> None:
    """Exec the recorded launch if there is one for exactly this; else return."""
    found = lookup(argv)
    if found is None:
        return
    binary, args, state_path, record, monitor = found
    if monitor and not _listen(str(monitor[0]), int(monitor[1]), argv):
        return
    try:
        fd = os.open(f"{state_path}.run", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            os.lockf(fd, os.F_TLOCK, 0)
            os.set_inheritable(fd, True)
        except OSError:
            os.close(fd)
    except OSError:
        return
    try:  # noqa: SIM105 (contextlib would be one more module to load)
        os.utime(record)
    except OSError:
        pass
    if os.environ.get("QEMUWRAP_DEBUG"):
        print("qemuwrap: exec (replayed) " + " ".join([binary, *args]), file=sys.stderr)
    os.environ["QEMUWRAP_EXEC"] = os.path.realpath(binary)
    try:
        os.execv(binary, [binary, *args])
    except OSError:
        del os.environ["QEMUWRAP_EXEC"]
