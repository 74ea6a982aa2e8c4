"""The per-guest state file: what each device was given, so that it keeps it.

In memory a frozen dataclass; on disk TOML with a ``schema_version``, read with
``tomllib`` and written with ``tomli_w`` to a temp file in the same directory,
fsync'd, then ``os.replace``'d over the old one, under a per-guest ``lockf``
lock. A file that cannot be read stops the launch and is left as it was.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path

from qemuwrap import paths, schema, spaces
from qemuwrap.errors import StateError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "MIGRATIONS",
    "PIN_FIELDS",
    "SCHEMA_VERSION",
    "GuestState",
    "Pin",
    "build",
    "claim_running",
    "ensure_dir",
    "file_name",
    "load",
    "load_as_written",
    "locked",
    "migrate",
    "now",
    "parse",
    "path_for",
    "pid_file",
    "read",
    "render",
    "review",
    "run_lock_holder",
    "same_topology",
    "save",
]

SCHEMA_VERSION = 3


def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 2 added ``options`` (a user's bridge, kept to be put back); version 1
    files have none, so nothing else changes. A version-1 qemuwrap refuses a version-2
    file by its number instead of by the unknown key."""
    return {**data, "schema_version": 2}


def _v2_to_v3(data: dict[str, Any]) -> dict[str, Any]:
    """Version 3 records each entry's address space, which older files leave to be worked
    out from the place (``spaces.infer``): it is filled in so. Tables that are not tables
    are left for the checks to report."""
    def with_space(table: Any) -> Any:
        if not isinstance(table, dict) or "space" in table or not isinstance(
                table.get("bus"), str):
            return table
        unit, port = table.get("unit"), table.get("port")
        return {**table, "space": spaces.infer(table["bus"], unit if isinstance(unit, int)
                                               else None, port if isinstance(port, str)
                                               else None)}

    out = {**data, "schema_version": 3}
    for kind in ("device", "tombstone"):
        if isinstance(data.get(kind), list):
            out[kind] = [with_space(t) for t in data[kind]]
    return out


MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _v1_to_v2,
                                                                      2: _v2_to_v3}
"""``MIGRATIONS[n]`` turns a version-n document into a version-n+1 one."""



@dataclass(frozen=True)
class Pin:
    """One device's recorded place: a PCI slot.function, an IDE or SCSI unit, a USB port."""

    key: str
    driver: str
    bus: str
    space: str | None = None
    """The address space (``spaces.SPACES``); worked out from the place when not given."""
    slot: int | None = None
    function: int | None = None
    unit: int | None = None
    port: str | None = None
    """A USB port path, ``2`` or ``2.1`` (port 1 of the hub in port 2)."""
    mac: str | None = None
    provides: str | None = None
    """For a bridge: the bus it provides (its id)."""
    chassis: int | None = None
    options: str | None = None
    """For a bridge of the user's own: its ``-device`` argument without bus and addr, to put
    it back, empty, while a bridge after it is there (README, "Bridges and hubs")."""
    last_seen: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    """Fields a newer qemuwrap of the same schema wrote; kept and written back."""

    def __post_init__(self) -> None:
        if self.space is None:
            object.__setattr__(self, "space", spaces.infer(self.bus, self.unit, self.port))

    @property
    def added(self) -> bool:
        """A bridge or hub that qemuwrap added (not one of the command line's)."""
        return self.provides is not None and self.options is None

    @property
    def spot(self) -> tuple[str, int, int]:
        return spaces.of(self).spot(self)

    def describe(self) -> str:
        return spaces.of(self).describe(self)


@dataclass(frozen=True)
class GuestState:
    name: str
    machine: str
    devices: tuple[Pin, ...] = ()
    tombstones: tuple[Pin, ...] = ()
    """Devices that were removed: their spots are not handed out while others are free."""
    created: datetime | None = None
    last_launch: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    """Keys a newer qemuwrap of the same schema wrote; kept so that nothing is lost."""


PIN_FIELDS = tuple(f.name for f in fields(Pin) if f.name != "extra")


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def file_name(guest: str) -> str:
    """A file name for a guest name: safe characters kept, the rest %-escaped, long ones hashed."""
    safe = re.sub(r"[^A-Za-z0-9_+@-]|^\.",
                  lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), guest)
    if len(safe) > 180:
        from hashlib import sha256

        safe = f"{safe[:120]}~{sha256(guest.encode()).hexdigest()[:32]}"
    return f"{safe}.toml"


def path_for(state_dir: Path, guest: str) -> Path:
    return state_dir / file_name(guest)


def _where(kind: str, index: int, data: Any) -> str:
    """An entry as a user finds it in the file: by its key, else by its position."""
    key = data.get("key") if isinstance(data, dict) else None
    return f"{kind} {key!r}" if isinstance(key, str) else f"{kind} {index + 1}"


def review(data: dict[str, Any]) -> list[str]:
    """Every problem of a (migrated) document, one line each: entry, field, what is wrong."""
    lines = [f"{field} {message}" for field, message in schema.top_problems(data)]
    machine = data.get("machine") if isinstance(data.get("machine"), str) else ""
    for kind in ("device", "tombstone"):
        tables = data.get(kind, [])
        for index, table in enumerate(tables if isinstance(tables, list) else []):
            where = _where(kind, index, table)
            lines += [f"{where}: {f'{field} ' if field else ''}{message}"
                      for field, message in schema.problems(table, str(machine))]
    return lines


def _pin(data: dict[str, Any]) -> Pin:
    return Pin(**{k: v for k, v in data.items() if k in PIN_FIELDS},
               extra={k: v for k, v in data.items() if k not in PIN_FIELDS})


def migrate(data: dict[str, Any], path: Path) -> dict[str, Any]:
    """Bring a document up to SCHEMA_VERSION, refusing one from a newer qemuwrap."""
    version = data.get("schema_version")
    if not isinstance(version, int):
        raise StateError(f"{path}: no schema_version")
    if version > SCHEMA_VERSION:
        raise StateError(f"{path}: schema_version {version} is newer than this qemuwrap "
                         f"understands ({SCHEMA_VERSION}); upgrade qemuwrap")
    while version < SCHEMA_VERSION:
        if version not in MIGRATIONS:
            raise StateError(f"{path}: schema_version {version} cannot be migrated")
        data = MIGRATIONS[version](data)
        version = data["schema_version"]
    return data


def read(text: str, path: Path) -> dict[str, Any]:
    """The document, migrated to SCHEMA_VERSION, its values not yet checked."""
    import tomllib  # here, not above: slow to import, and a first launch reads no state

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise StateError(f"{path}: not valid TOML ({exc})") from None
    return migrate(data, path)


def parse(text: str, path: Path) -> GuestState:
    """The state in ``text``; a value that breaks the rules (schema.py) stops here."""
    data = read(text, path)
    problems = review(data)
    if problems:
        more = f" (and {len(problems) - 1} more: qemuwrap-ctl show lists them)" if len(
            problems) > 1 else ""
        raise StateError(f"{path}: {problems[0]}{more}; nothing was started or changed")
    return build(data)


def build(data: dict[str, Any]) -> GuestState:
    """A GuestState from a document, whatever its values (``show`` of a spoilt file)."""
    tables = {kind: [t for t in data.get(kind, []) if isinstance(t, dict)]
              if isinstance(data.get(kind), list) else [] for kind in ("device", "tombstone")}
    return GuestState(name=str(data.get("name", "")), machine=str(data.get("machine", "")),
                      devices=tuple(_pin(t) for t in tables["device"]),
                      tombstones=tuple(_pin(t) for t in tables["tombstone"]),
                      created=data.get("created"), last_launch=data.get("last_launch"),
                      extra={k: v for k, v in data.items() if k not in schema.TOP_FIELDS})


def render(state: GuestState) -> str:
    import tomli_w

    def table(pin: Pin) -> dict[str, Any]:
        return {**{k: v for k in PIN_FIELDS if (v := getattr(pin, k)) is not None},
                **pin.extra}

    doc: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "name": state.name,
                           "machine": state.machine}
    for key in ("created", "last_launch"):
        if getattr(state, key) is not None:
            doc[key] = getattr(state, key)
    doc.update(state.extra)
    doc["device"] = [table(p) for p in state.devices]
    if state.tombstones:
        doc["tombstone"] = [table(p) for p in state.tombstones]
    return tomli_w.dumps(doc)


def _text(path: Path) -> str | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateError(f"cannot read {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        raw = f.read()
    try:
        return raw.decode()
    except UnicodeDecodeError:
        raise StateError(f"{path}: not UTF-8 text") from None


def load(path: Path) -> GuestState | None:
    """The guest's state, or None if it has none yet."""
    text = _text(path)
    return None if text is None else parse(text, path)


def load_as_written(path: Path) -> tuple[GuestState, list[str]] | None:
    """The state as the file has it, values unchecked, and what is wrong with them: for
    showing a file spoilt by hand, never for a launch."""
    text = _text(path)
    if text is None:
        return None
    data = read(text, path)
    return build(data), review(data)


def same_topology(a: GuestState, b: GuestState) -> bool:
    """Whether two states pin the same machine and devices (timestamps aside)."""
    def strip(pins: tuple[Pin, ...]) -> list[Pin]:
        return sorted((replace(p, last_seen=None) for p in pins), key=lambda p: p.key)

    return (a.machine == b.machine and strip(a.devices) == strip(b.devices)
            and strip(a.tombstones) == strip(b.tombstones))


def _clear_leftovers(path: Path) -> None:
    """Temp files of writers killed mid-write; only called under the guest's lock."""
    prefix = f".{path.name}."
    for name in os.listdir(path.parent):
        if name.startswith(prefix) and name.endswith(".tmp"):
            with contextlib.suppress(OSError):
                os.unlink(path.parent / name)


def save(path: Path, state: GuestState) -> None:
    """Replace the state file atomically: the old content or the new, never a mix.

    The file being replaced is kept as ``NAME.toml.bak`` (it was read and parsed
    before this write), so a good state is there to restore from if a later one is
    spoiled by hand. The caller holds the guest's lock.
    """
    data = render(state).encode()
    try:
        _clear_leftovers(path)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600)
        try:
            paths.keep_owner(fd, str(path.parent))
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            if path.exists():
                backup = path.with_name(f".{path.name}.bak.tmp")
                with contextlib.suppress(FileNotFoundError):
                    backup.unlink()
                os.link(path, backup, follow_symlinks=False)
                os.replace(backup, path.with_name(path.name + ".bak"))
                with contextlib.suppress(FileNotFoundError):
                    backup.unlink()  # rename() does nothing if .bak is this very file already
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        raise StateError(f"cannot write {path}: {exc.strerror}") from None


def ensure_dir(state_dir: Path, admin: bool = False) -> None:
    """Create the state directory (0700), and refuse one that another user owns, but to
    root acting for its owner (``admin``: qemuwrap-ctl, whose files keep that owner)."""
    try:
        paths.make_private(str(state_dir))
        st = os.stat(state_dir, follow_symlinks=False)
    except OSError as exc:
        raise StateError(f"cannot create state directory {state_dir}: {exc.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise StateError(f"state directory {state_dir} is not a directory (a symlink?)")
    if st.st_uid != os.geteuid() and not (admin and os.geteuid() == 0):
        raise StateError(f"state directory {state_dir} is owned by uid {st.st_uid}, "
                         f"not by this user ({os.geteuid()}); refusing to use it")


def _open_lock(path: Path, suffix: str) -> int:
    lock_path = path.with_name(path.name + suffix)
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        paths.keep_owner(fd, str(path.parent))
        return fd
    except OSError as exc:
        raise StateError(f"cannot open lock {lock_path}: {exc.strerror}") from None


def pid_file(path: Path) -> Path:
    """``NAME.toml.pid``: given to a ``-daemonize``d QEMU as its ``-pidfile`` (or a symlink
    to the one the command line names), which QEMU's daemon keeps locked while it runs.
    The run lock cannot follow it there: record locks do not pass to a forked child."""
    return path.with_name(path.name + ".pid")


def claim_running(path: Path) -> int | None:
    """Take the guest's run lock (``NAME.toml.run``) for the QEMU about to start.

    The descriptor is returned open; made inheritable, it passes to QEMU with the
    exec, so the lock is held exactly as long as the guest runs. None means another
    process holds it, or a daemonized QEMU holds its pid file: the guest is running.
    """
    fd = _open_lock(path, ".run")
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    if _lock_holder(pid_file(path)) is not None:
        os.close(fd)
        return None
    return fd


def run_lock_holder(path: Path) -> int | None:
    """The PID of the guest's QEMU: the holder of its run lock, else of its pid file."""
    return _lock_holder(path.with_name(path.name + ".run")) or _lock_holder(pid_file(path))


def _lock_holder(lock_path: Path) -> int | None:
    """The PID holding a POSIX lock on the file, from /proc/locks (Linux)."""
    try:
        inode = os.stat(lock_path).st_ino
        with open("/proc/locks") as locks:
            for line in locks:
                fields = line.split()
                if len(fields) > 5 and fields[5].rsplit(":", 1)[-1] == str(inode):
                    return int(fields[4])
    except (OSError, ValueError):
        pass
    return None


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold the guest's lock (``lockf`` on ``NAME.toml.lock``) for a read-modify-write."""
    fd = _open_lock(path, ".lock")
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
