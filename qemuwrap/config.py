"""Where things are: the real QEMU binary, the state directory, the config file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from qemuwrap import paths
from qemuwrap.errors import QemuNotFoundError, StateError

__all__ = ["CANDIDATES", "GUARD", "Config", "find_qemu", "load_config", "state_dir", "which"]

GUARD = "QEMUWRAP_EXEC"
"""Set to the binary qemuwrap execs: if that binary turns out to be qemuwrap again, stop."""
CANDIDATES = ("/usr/libexec/qemu-kvm", "qemu-system-x86_64")


@dataclass(frozen=True)
class Config:
    qemu: str | None = None
    state_dir: str | None = None
    monitor: bool = True
    """Give each guest qemuwrap's own QMP monitor (``qemuwrap-ctl plug``, ``sync``...)."""


def load_config() -> Config:
    path = paths.config_file()
    if not os.path.exists(path):
        return Config()
    import tomllib  # only when there is a config file: it is slow to import

    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise StateError(f"cannot read config {path}: {exc}") from None
    unknown = set(data) - {"qemu", "state_dir", "monitor"}
    if (unknown or not all(isinstance(data.get(k, ""), str) for k in ("qemu", "state_dir"))
            or not isinstance(data.get("monitor", True), bool)):
        raise StateError(f"config {path}: expected only the strings qemu and state_dir and "
                         "the boolean monitor")
    return Config(qemu=data.get("qemu"), state_dir=data.get("state_dir"),
                  monitor=data.get("monitor", True))


def state_dir(config: Config) -> Path:
    return Path(paths.state_dir(config.state_dir))


def _is_self(path: str, self_paths: list[str]) -> bool:
    real = os.path.realpath(path)
    return any(real == os.path.realpath(p) for p in self_paths)


def which(name: str) -> str | None:
    """The executable ``name`` on PATH, as a shell finds it (shutil's costs a launch 3 ms
    of imports)."""
    for directory in os.environ.get("PATH", os.defpath).split(os.pathsep):
        candidate = os.path.join(directory or ".", name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def find_qemu(config: Config, self_paths: list[str]) -> str:
    """The real QEMU: ``$QEMUWRAP_QEMU``, the config's ``qemu``, else the usual places.

    ``self_paths`` are the paths qemuwrap runs as; a candidate resolving to one of
    them is qemuwrap itself (say, through the ``qemu-kvm`` alternative) and skipped.
    """
    chosen = os.environ.get("QEMUWRAP_QEMU") or config.qemu
    if chosen:
        found = which(chosen) if os.sep not in chosen else chosen
        if not found or not os.access(found, os.X_OK):
            raise QemuNotFoundError(f"configured QEMU {chosen} is not an executable")
        if _is_self(found, self_paths):
            raise QemuNotFoundError(f"configured QEMU {chosen} is qemuwrap itself")
    else:
        found = next((p for c in CANDIDATES for p in [which(c)]
                      if p and not _is_self(p, self_paths)), None)
        if found is None:
            raise QemuNotFoundError("no QEMU found (tried /usr/libexec/qemu-kvm and "
                                    "qemu-system-x86_64 on PATH); set QEMUWRAP_QEMU")
    if os.environ.get(GUARD) == os.path.realpath(found):
        raise QemuNotFoundError(f"{found} leads back to qemuwrap; point QEMUWRAP_QEMU or the "
                                "config's qemu at the real QEMU binary")
    return found
