"""QemuOpts: QEMU's ``key=value,key=value`` option syntax, parsed and rendered.

A literal comma in a value is written ``,,``. A first element without ``=``
stands for the option's implied key (``-device e1000`` is ``driver=e1000``);
elsewhere a bare word is a flag (``snapshot`` means ``snapshot=on``), kept as
written. Keys keep their order and may repeat (``hostfwd=...`` twice), so an
option is a tuple of pairs, not a dict. Mirrors ``opts_do_parse`` in QEMU's
``util/qemu-option.c``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from qemuwrap.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "Opts",
    "escape",
    "is_json",
    "parse",
    "parse_json",
    "properties",
    "render",
    "render_json",
]


@dataclass(frozen=True)
class Opts:
    """An ordered list of (key, value) pairs; a value of None is a bare flag."""

    pairs: tuple[tuple[str, str | None], ...] = ()

    def get(self, key: str, default: str | None = None) -> str | None:
        """The last value given for ``key`` (QemuOpts: the last one wins)."""
        for k, v in reversed(self.pairs):
            if k == key:
                return v if v is not None else "on"
        return default

    def has(self, key: str) -> bool:
        return any(k == key for k, _ in self.pairs)

    def without(self, *keys: str) -> Opts:
        return Opts(tuple((k, v) for k, v in self.pairs if k not in keys))

    def with_(self, key: str, value: str) -> Opts:
        """Set ``key``, replacing an earlier value in place or appending it."""
        if self.has(key):
            out: list[tuple[str, str | None]] = []
            for k, v in self.pairs:
                if k == key:
                    if not any(k2 == key for k2, _ in out):
                        out.append((k, value))
                else:
                    out.append((k, v))
            return Opts(tuple(out))
        return Opts(self.pairs + ((key, value),))

    def keys(self) -> list[str]:
        return [k for k, _ in self.pairs]


def _split_value(text: str, start: int) -> tuple[str, int]:
    """Read a value up to an unescaped comma; return it and the index after the comma."""
    out: list[str] = []
    i = start
    while i < len(text):
        c = text[i]
        if c == ",":
            if i + 1 < len(text) and text[i + 1] == ",":
                out.append(",")
                i += 2
                continue
            return "".join(out), i + 1
        out.append(c)
        i += 1
    return "".join(out), i


def parse(text: str, implied: str | None = None) -> Opts:
    """Parse a QemuOpts string; ``implied`` is the option's implied first key."""
    pairs: list[tuple[str, str | None]] = []
    i = 0
    first = True
    while i < len(text):
        end = i
        while end < len(text) and text[end] not in "=,":
            end += 1
        if first and implied is not None and (end == len(text) or text[end] != "="):
            value, i = _split_value(text, i)
            pairs.append((implied, value))
        elif end < len(text) and text[end] == "=":
            key = text[i:end]
            if not key:
                raise UsageError(f"empty key in {text!r}")
            value, i = _split_value(text, end + 1)
            pairs.append((key, value))
        else:
            key = text[i:end]
            if key:
                pairs.append((key, None))
            i = end + 1
        first = False
    return Opts(tuple(pairs))


def escape(value: str) -> str:
    return value.replace(",", ",,")


def render(opts: Opts, implied: str | None = None) -> str:
    """Render ``opts``; a leading implied key is written bare, as users write it."""
    parts: list[str] = []
    for index, (key, value) in enumerate(opts.pairs):
        if value is None:
            parts.append(key)
        elif index == 0 and key == implied and "=" not in value.split(",")[0]:
            parts.append(escape(value))
        else:
            parts.append(f"{key}={escape(value)}")
    return ",".join(parts)


def is_json(text: str) -> bool:
    return text.lstrip().startswith("{")


def parse_json(text: str) -> dict[str, Any]:
    """Parse a JSON option argument (``-device '{"driver": ...}'``)."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"invalid JSON option argument {text!r}: {exc}") from None
    if not isinstance(value, dict):
        raise UsageError(f"JSON option argument is not an object: {text!r}")
    return value


def properties(text: str, implied: str | None = None) -> dict[str, Any]:
    """An option's argument as a dict, whichever syntax it uses: a JSON object, or QemuOpts
    (where the last value of a repeated key wins, as in QEMU; a bare flag is None)."""
    return parse_json(text) if is_json(text) else dict(parse(text, implied).pairs)


def render_json(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(", ", ": "))

