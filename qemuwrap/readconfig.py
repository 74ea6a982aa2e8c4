"""``-readconfig FILE``: the sections QEMU reads from a file, as the options they stand for.

QEMU's config files hold QemuOpts groups (``[drive "d0"]`` then ``key = "value"``
lines). Expanded into command-line options, the drives, devices and NICs they
describe are pinned like any other. A file with a group qemuwrap does not know
is left to QEMU as it is, and its devices are not pinned.
"""

from __future__ import annotations

import re

from qemuwrap import qemuopts
from qemuwrap.cmdline import Token
from qemuwrap.errors import UsageError
from qemuwrap.qemuopts import Opts

__all__ = ["GROUPS", "expand", "expand_all", "parse"]

GROUPS = {"drive": "drive", "device": "device", "netdev": "netdev", "chardev": "chardev",
          "name": "name", "machine": "machine", "memory": "m", "smp-opts": "smp",
          "boot-opts": "boot", "rtc": "rtc", "global": "global", "net": "net"}
"""Config group -> the option it is the file form of."""

_SECTION = re.compile(r'^\[([\w-]+)(?:\s+"([^"]*)")?\]$')
_ENTRY = re.compile(r'^([\w.-]+)\s*=\s*"(.*)"$')


def parse(text: str, source: str) -> list[tuple[str, str | None, list[tuple[str, str]]]]:
    """(group, id, [(key, value)...]) for each section of a config file."""
    sections: list[tuple[str, str | None, list[tuple[str, str]]]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if m := _SECTION.match(line):
            sections.append((m.group(1), m.group(2), []))
        elif (m := _ENTRY.match(line)) and sections:
            sections[-1][2].append((m.group(1), m.group(2)))
        else:
            raise UsageError(f"{source}:{number}: cannot read {raw.strip()!r}")
    return sections


def expand_all(tokens: list[Token]) -> list[Token]:
    """The command line with each ``-readconfig`` qemuwrap can read replaced by its options,
    so that a ``[name]`` or ``[machine]`` section counts like ``-name`` or ``-machine``."""
    out: list[Token] = []
    for token in tokens:
        expanded = expand(token) if token.name == "readconfig" else None
        out += expanded if expanded is not None else [token]
    return out


def expand(token: Token) -> list[Token] | None:
    """The options a ``-readconfig`` file stands for, or None to leave it to QEMU."""
    path = token.value or ""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise UsageError(f"-readconfig {path}: {exc.strerror}") from None
    sections = parse(text, path)
    if any(group not in GROUPS for group, _, _ in sections):
        return None
    out = []
    for group, ident, entries in sections:
        pairs: list[tuple[str, str | None]] = [("id", ident)] if ident else []
        if group == "global":
            values = dict(entries)
            value = f"{values.get('driver')}.{values.get('property')}={values.get('value')}"
        else:
            pairs += [(k, v) for k, v in entries]
            value = qemuopts.render(Opts(tuple(pairs)))
        name = GROUPS[group]
        out.append(Token(name, value, (f"-{name}", value)))
    return out
