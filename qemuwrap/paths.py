"""Where qemuwrap looks when nothing says otherwise: the config file and the state directory.

Needs nothing but ``os``, so that replay.py, which runs before anything else is
loaded, and config.py resolve them by the same rule.
"""

from __future__ import annotations

import os

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
