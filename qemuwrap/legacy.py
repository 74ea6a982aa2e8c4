"""Options QEMU removed, rewritten to what replaced them, for the binary that lacks them.

An old command line keeps working on a new QEMU: each rewrite applies only when
the installed binary no longer lists the option in ``-help`` (cached with its
machine list), so an old QEMU still gets what it knows. Rewrites turn tokens
into tokens; the devices they produce are pinned like any other.
"""

from __future__ import annotations

from collections.abc import Callable

from qemuwrap.cmdline import Token
from qemuwrap.facts import BinaryFacts


def _option(name: str, value: str | None = None) -> Token:
    return Token(name, value, (f"-{name}",) if value is None else (f"-{name}", value))


def _machine(prop: str) -> Callable[[Token], list[Token]]:
    return lambda _token: [_option("machine", prop)]


REWRITES: dict[str, tuple[str, Callable[[Token], list[Token]]]] = {
    "no-acpi": ("9.0", _machine("acpi=off")),
    "no-hpet": ("9.0", _machine("hpet=off")),
}
"""Removed option -> (the QEMU version that removed it, its rewrite)."""


def modernize(tokens: list[Token], facts: BinaryFacts) -> list[Token]:
    """The command line with every removed option the binary lacks rewritten."""
    out: list[Token] = []
    for token in tokens:
        rewrite = REWRITES.get(token.name or "")
        if rewrite is not None and facts.options and token.name not in facts.options:
            out += rewrite[1](token)
        else:
            out.append(token)
    return out
