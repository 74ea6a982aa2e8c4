"""Running another program for its output: QEMU for what it offers, virsh for a libvirt guest.

Loaded only when needed (``subprocess`` is never imported on a daily launch).
"""

from __future__ import annotations

import subprocess

from qemuwrap.errors import QemuwrapError

__all__ = ["output"]


def output(argv: list[str], error: type[QemuwrapError], env: dict[str, str] | None = None,
           timeout: float = 60) -> str:
    """The program's standard output; one that cannot start, times out or fails is
    ``error`` with one line: the command and the first line it wrote to stderr."""
    what = " ".join(argv)
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, env=env, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise error(f"cannot run {what}: {exc}") from None
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or ["no output"])[0]
        raise error(f"{what} failed: {first}")
    return done.stdout
