"""The tokeniser and the option table, against QEMU's own ``-help``."""

from __future__ import annotations

import re
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qemuwrap.cmdline import Token, tokenise, untokenise
from qemuwrap.errors import UsageError
from qemuwrap.options import WITH_ARGUMENT, WITHOUT_ARGUMENT

import guest


def test_options_and_arguments() -> None:
    tokens = tokenise(["-name", "x", "--drive", "file=a", "-S", "disk.img", "-m", "-5"])
    assert tokens == [
        Token("name", "x", ("-name", "x")),
        Token("drive", "file=a", ("--drive", "file=a")),
        Token("S", None, ("-S",)),
        Token(None, "disk.img", ("disk.img",)),
        Token("m", "-5", ("-m", "-5")),
    ]


def test_unknown_option_stands_alone() -> None:
    assert tokenise(["-frobnicate", "x.img"]) == [
        Token("frobnicate", None, ("-frobnicate",)), Token(None, "x.img", ("x.img",))]


def test_missing_argument_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="-drive requires an argument"):
        tokenise(["-name", "x", "-drive"])


words = st.one_of(
    st.sampled_from(sorted(f"-{o}" for o in WITH_ARGUMENT | WITHOUT_ARGUMENT)),
    st.sampled_from(["--drive", "--S", "-unknown-thing", "-", "x.img"]),
    st.text(min_size=0, max_size=12))


@given(st.lists(words, max_size=20))
def test_untokenise_gives_back_the_words(argv: list[str]) -> None:
    try:
        tokens = tokenise(argv)
    except UsageError:
        assert argv and argv[-1].lstrip("-") in WITH_ARGUMENT
        return
    assert untokenise(tokens) == argv


HELP_LAYOUT_AMBIGUOUS = {"h", "dtb", "async-teardown"}
"""Lines of ``-help`` whose spacing does not show whether the option takes an argument."""


@pytest.mark.qemu
def test_table_agrees_with_the_binary_help() -> None:
    text = subprocess.run([guest.QEMU, "-help"], capture_output=True, text=True,
                          check=True).stdout
    checked = 0
    for line in text.splitlines():
        m = re.match(r"^--?([\w-]+(?:/-[\w-]+)*)( \S)?", line)
        if not m:
            continue
        for name in m.group(1).split("/-"):
            assert name in WITH_ARGUMENT | WITHOUT_ARGUMENT, f"-{name} missing from the table"
            if name not in HELP_LAYOUT_AMBIGUOUS:
                assert (name in WITH_ARGUMENT) == bool(m.group(2)), line
                checked += 1
    assert checked > 100
