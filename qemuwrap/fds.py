"""Descriptor numbers that QEMU's option words name: ``fd=5``, ``fds=5:6``,
``"fd":"25"`` (JSON), ``vhostfd=7``, ``fd:5``, ``/dev/fd/5``.

Two users: the monitor's descriptor must be none of them (``monitor.free_fd``), and
the replay masks them, as libvirt changes them at every start (``replay._masked``).
Imports nothing: the replayed launch uses it.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

__all__ = ["PREFIXES", "named", "runs"]

PREFIXES = ("fd=", "fds=", 'fd":"', 'fds":"', 'fd":', "vhostfd=", "vhostfds=", "sock_fd=",
            "fd:", "/dev/fd/", "/proc/self/fd/")
"""What stands right before a descriptor number (or a ``:``-separated list of them)."""


def runs(word: str, prefixes: tuple[str, ...] = PREFIXES) -> Iterator[tuple[int, int]]:
    """Where each run of digits and colons right after one of ``prefixes`` stands in
    ``word``, as (start, end)."""
    i, end = 0, len(word)
    while i < end:
        for prefix in prefixes:
            if word.startswith(prefix, i):
                j = k = i + len(prefix)
                while k < end and (word[k].isdigit() or word[k] == ":"):
                    k += 1
                if k > j:
                    yield j, k
                    i = k
                    break
        else:
            i += 1


def named(words: Iterable[str]) -> set[int]:
    """Every descriptor the words name."""
    return {int(n) for word in words if "fd" in word
            for start, end in runs(word) for n in word[start:end].split(":") if n}
