"""Where qemuwrap looks when nothing says otherwise: the config file and the state directory.

Needs nothing but ``os``, so that replay.py, which runs before anything else is
loaded, and config.py resolve them by the same rule.
"""

from __future__ import annotations

import os

__all__ = ["DEFAULT_CONFIG", "config_file", "configured_state_dir", "keep_owner", "make_private",
           "state_dir"]

DEFAULT_CONFIG = "/etc/qemuwrap/config.toml"


def config_file() -> str:
    return os.environ.get("QEMUWRAP_CONFIG", DEFAULT_CONFIG)


def state_dir(configured: str | None = None) -> str:
    """``$QEMUWRAP_STATE_DIR``, else the config's ``state_dir``, else /var/lib/qemuwrap for
    root and ``$XDG_STATE_HOME/qemuwrap`` (``~/.local/state/qemuwrap``) for others."""
    explicit = os.environ.get("QEMUWRAP_STATE_DIR") or configured
    if explicit:
        return explicit
    if os.geteuid() == 0:
        return "/var/lib/qemuwrap"
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return os.path.join(base, "qemuwrap")


def configured_state_dir() -> tuple[bool, str | None]:
    """The config file's ``state_dir``, read without tomllib (the replay runs before anything
    is imported): (understood, value). Only plain ``key = "value"`` lines, ``monitor = true``
    or ``false``, and comments are understood; a file of any other form is left to the
    full pipeline's TOML reader."""
    try:
        with open(config_file(), encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return True, None
    except (OSError, ValueError):
        return False, None
    value: str | None = None
    for line in lines:
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        key, eq, rest = text.partition("=")
        rest = rest.strip()
        if key.strip() == "monitor" and rest in ("true", "false"):
            continue
        if (not eq or key.strip() not in ("qemu", "state_dir") or len(rest) < 2
                or rest[0] != '"' or rest[-1] != '"' or '"' in rest[1:-1] or "\\" in rest):
            return False, None
        if key.strip() == "state_dir":
            value = rest[1:-1]
    return True, value


def keep_owner(fd: int, directory: str) -> None:
    """Give a file root creates in another user's state directory to that user: the
    QEMU that runs as them (libvirt's ``libvirt-qemu``, say) must read and write it
    again after an admin ran ``qemuwrap-ctl`` as root. A no-op for anyone else."""
    if os.geteuid() != 0:
        return
    st = os.stat(directory)
    if st.st_uid != 0:
        os.fchown(fd, st.st_uid, st.st_gid)


def make_private(path: str) -> None:
    """Create the directory ``path`` and each missing one above it with mode 0700 (XDG's
    rule for the directories it creates): the state directory made on the way to its
    ``.cache`` must not list the guests to every user, as ``mkdir(parents=True)`` would."""
    missing = []
    path = os.path.abspath(path)
    while not os.path.isdir(path):
        missing.append(path)
        path = os.path.dirname(path)
    for directory in reversed(missing):
        try:  # noqa: SIM105 (contextlib would be one more import for the replay)
            os.mkdir(directory, 0o700)
        except FileExistsError:
            pass
