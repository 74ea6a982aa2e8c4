"""qemuwrap's own QMP monitor of a running guest: a unix socket beside its state.

qemuwrap binds and listens on the socket itself (mode 0600, a stale one replaced,
a live one, another QEMU's of the same guest, left alone) and hands it to QEMU as
an inherited descriptor: ``-chardev socket,fd=N,server=on,wait=off`` and ``-mon``.
So QEMU creates no file (it may run chrooted, as another user, confined by
libvirt's AppArmor profile), and a path longer than the 108 bytes of a socket
address is bound through the directory's descriptor instead.

``-mon`` turns off QEMU's default monitor (the window's or, with ``-nographic``,
the one behind Ctrl-A c on stdio), so a line that relies on it gets it explicitly.

Imports only what is compiled into the interpreter: the replayed launch uses it.
"""

from __future__ import annotations

import _socket
import os
import stat

from qemuwrap import fds

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["CHARDEV_ID", "connect", "default_monitor", "free_fd", "incoming_path", "is_live",
           "is_open", "listen", "reserve", "socket_path", "words"]

CHARDEV_ID = "qemuwrap-monitor"
SUN_PATH_MAX = 107
"""The longest path a unix socket address holds (108 bytes with the terminating NUL)."""
_DISABLED = frozenset({"mon", "monitor", "qmp", "qmp-pretty", "nodefaults"})


def socket_path(state_path: str) -> str:
    """``NAME.toml.qmp`` beside ``NAME.toml``."""
    return state_path + ".qmp"


def incoming_path(path: str) -> str:
    """Where a migration target listens while its source, on the same host, still holds
    ``path``; ``qemuwrap-ctl`` moves it to ``path`` once the source has handed over."""
    return path + ".incoming"


def words(fd: int) -> list[str]:
    return ["-chardev", f"socket,id={CHARDEV_ID},fd={fd},server=on,wait=off",
            "-mon", f"chardev={CHARDEV_ID},mode=control"]


def default_monitor(names: Iterable[str | None]) -> list[str]:
    """QEMU's default monitor, which ``-mon`` turns off, as the options that make it
    (QEMU's vl.c): none when the line has a monitor of its own or ``-nodefaults``; with
    ``-nographic`` on stdio, muxed with the default serial port when that is there
    too; else on a virtual console of the display."""
    given = set(names)
    if given & _DISABLED:
        return []
    if "nographic" not in given:
        return ["-monitor", "vc:80Cx24C"]
    if "serial" in given:
        return ["-monitor", "stdio"]
    return ["-serial", "mon:stdio"]


def free_fd(args: Iterable[str]) -> int:
    """The lowest descriptor from 3 up that is neither open nor named by ``args``: the same
    for ``qemuwrap-ctl plan`` as for the launch, which reserves it early (``reserve``)."""
    named = fds.named(args)
    fd = 3
    while fd in named or is_open(fd):
        fd += 1
    return fd


def reserve(args: Iterable[str]) -> int:
    """Hold ``free_fd(args)`` (on /dev/null) until the socket takes it, so that nothing the
    launch opens meanwhile (its locks) lands there."""
    fd = free_fd(args)
    null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    if null != fd:
        os.dup2(null, fd, inheritable=False)
        os.close(null)
    return fd


def is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


class _Address:
    """A socket path as ``connect``/``bind`` can take it: itself, or, when longer than
    a socket address holds, the name under ``/proc/self/fd/DIR``."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.dir_fd: int | None = None
        self.address = path
        if len(os.fsencode(path)) > SUN_PATH_MAX:
            directory, name = os.path.split(path)
            self.dir_fd = os.open(directory or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            self.address = f"/proc/self/fd/{self.dir_fd}/{name}"

    def close(self) -> None:
        if self.dir_fd is not None:
            os.close(self.dir_fd)


def connect(path: str, timeout: float | None = None) -> _socket.socket:
    """A connected socket; OSError when nothing listens there."""
    where = _Address(path)
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(where.address)
    except OSError:
        sock.close()
        raise
    finally:
        where.close()
    return sock


def is_live(path: str) -> bool:
    """True while a QEMU listens there (the guest runs, with this monitor)."""
    try:
        connect(path, 2).close()
    except OSError:
        return False
    return True


def listen(path: str, fd: int) -> str | None:
    """Bind the socket at ``path``, mode 0600, onto descriptor ``fd`` for QEMU to inherit.
    None when done; else why not (a live socket, a file that is no socket, an error)."""
    if is_live(path):
        return f"{path} is in use by a running QEMU"
    try:
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            os.unlink(path)
        else:
            return f"{path} exists and is not a socket"
    except FileNotFoundError:
        pass
    except OSError as exc:
        return f"cannot remove the stale {path}: {exc.strerror}"
    where = _Address(path)
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    old_mask = os.umask(0o177)
    try:
        sock.bind(where.address)
        sock.listen(8)
        if sock.fileno() == fd:
            sock.detach()
            os.set_inheritable(fd, True)
        else:
            os.dup2(sock.fileno(), fd, inheritable=True)
    except OSError as exc:
        return f"cannot listen on {path}: {exc.strerror}"
    finally:
        os.umask(old_mask)
        sock.close()
        where.close()
    return None
