"""Split a QEMU argv into options, the way QEMU's own ``lookup_opt`` does.

A word starting with ``-`` is an option (``--opt`` is ``-opt``); whether it eats
the next word comes from the option table. Any other word is a disk image,
which QEMU treats as ``-hda``. Every token keeps its original words so that
options qemuwrap does not rewrite go back to QEMU byte for byte.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from qemuwrap.errors import UsageError
from qemuwrap.options import takes_argument

__all__ = ["Token", "tokenise", "untokenise"]


@dataclass(frozen=True)
class Token:
    """One option with its argument, or a bare image file (``name`` is None)."""

    name: str | None
    value: str | None
    raw: tuple[str, ...]

    @property
    def is_image(self) -> bool:
        return self.name is None


def tokenise(argv: Sequence[str]) -> list[Token]:
    """Split ``argv`` (without the program name) into tokens."""
    tokens: list[Token] = []
    i = 0
    while i < len(argv):
        word = argv[i]
        if not word.startswith("-") or word == "-":
            tokens.append(Token(None, word, (word,)))
            i += 1
            continue
        name = word[2:] if word.startswith("--") else word[1:]
        if takes_argument(name):
            if i + 1 >= len(argv):
                raise UsageError(f"option {word} requires an argument")
            tokens.append(Token(name, argv[i + 1], (word, argv[i + 1])))
            i += 2
        else:
            tokens.append(Token(name, None, (word,)))
            i += 1
    return tokens


def untokenise(tokens: Iterable[Token]) -> list[str]:
    """The argv the tokens came from."""
    return [word for token in tokens for word in token.raw]
