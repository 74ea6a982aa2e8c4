"""QemuOpts grammar: ``,,`` escapes, implied keys, flags; render then parse is the identity."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qemuwrap import qemuopts
from qemuwrap.errors import UsageError
from qemuwrap.qemuopts import Opts


def test_escaped_comma_and_implied_key() -> None:
    opts = qemuopts.parse("virtio-net-pci,netdev=n0,romfile=a,,b.rom", "driver")
    assert opts.pairs == (("driver", "virtio-net-pci"), ("netdev", "n0"), ("romfile", "a,b.rom"))


def test_flags_and_repeated_keys() -> None:
    opts = qemuopts.parse("file=x,snapshot,hostfwd=a,hostfwd=b")
    assert opts.pairs == (("file", "x"), ("snapshot", None), ("hostfwd", "a"), ("hostfwd", "b"))
    assert opts.get("snapshot") == "on"
    assert opts.get("hostfwd") == "b"


def test_explicit_implied_key_is_not_implied() -> None:
    assert qemuopts.parse("guest=win7,debug-threads=on", "guest").get("guest") == "win7"
    assert qemuopts.parse("win7,debug-threads=on", "guest").get("guest") == "win7"


def test_implied_value_with_equals_is_rendered_with_its_key() -> None:
    opts = Opts((("driver", "a=b"),))
    assert qemuopts.render(opts, "driver") == "driver=a=b"


def test_empty_key_is_refused() -> None:
    with pytest.raises(UsageError):
        qemuopts.parse("=x")


def test_json_errors_are_usage_errors() -> None:
    with pytest.raises(UsageError):
        qemuopts.parse_json('{"driver": "e1000"')
    with pytest.raises(UsageError):
        qemuopts.parse_json("[1]")


keys = st.text(st.characters(blacklist_characters=",=", blacklist_categories=("Cs",)),
               min_size=1, max_size=8)
values = st.text(st.characters(blacklist_categories=("Cs",)), max_size=10)


@st.composite
def options(draw: st.DrawFn) -> tuple[Opts, str | None]:
    implied = draw(st.sampled_from([None, "driver"]))
    pairs: list[tuple[str, str | None]] = []
    if implied and draw(st.booleans()):
        pairs.append((implied, draw(values.filter(bool))))
    for _ in range(draw(st.integers(0, 5))):
        value = draw(st.one_of(st.none(), values))
        if value is None and not pairs and implied:
            value = ""
        pairs.append((draw(keys), value))
    return Opts(tuple(pairs)), implied


@given(options())
def test_render_then_parse_is_identity(case: tuple[Opts, str | None]) -> None:
    opts, implied = case
    text = qemuopts.render(opts, implied)
    assert qemuopts.parse(text, implied) == opts
