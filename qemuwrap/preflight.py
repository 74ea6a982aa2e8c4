"""What QEMU would refuse, refused before any state is written.

A launch QEMU refuses must change nothing: one typo (``-nte`` for ``-net``) would
otherwise turn a NIC into a tombstone and allocate afresh. What qemuwrap can see
is checked here: an option the binary does not offer (it knows the binary's
``-help``), a device driver it does not offer (its ``-device help``), a plain
local image file that does not exist. Where QEMU still refuses later, the next
good launch gets back what it had (README, "Going back").
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator

from qemuwrap import qemuopts
from qemuwrap.cmdline import Token
from qemuwrap.errors import UsageError
from qemuwrap.facts import BinaryFacts
from qemuwrap.frontends.nics import NIC_MODELS
from qemuwrap.options import IMPLIED_KEY

__all__ = ["check_images", "check_offered", "is_local_file"]

ALIASES = {"M": "machine"}
HIDDEN = frozenset({"qtest", "qtest-log"})
"""Options QEMU accepts that its ``-help`` does not list: an alias, and hidden ones."""
IMAGE_OPTIONS = frozenset({"hda", "hdb", "hdc", "hdd", "cdrom", "fda", "fdb", "pflash"})
FILE_DRIVERS = frozenset({"file", "host_device", "host_cdrom"})
_PROTOCOL = re.compile(r"^[A-Za-z][\w+.-]*:")
"""``nbd:``, ``rbd:``, ``iscsi://``, ``json:``...: not a local path (QEMU's own test:
a colon before any slash)."""


def check_offered(tokens: list[Token], facts: BinaryFacts, binary: str) -> None:
    """Refuse an option or a device driver the binary does not offer."""
    if facts.options:
        for token in tokens:
            name = token.name
            if (name is None or name in facts.options or name in HIDDEN
                    or ALIASES.get(name) in facts.options):
                continue
            raise UsageError(f"{token.raw[0]} is not an option of {binary} (its -help does "
                             "not list it); nothing was started or changed")
    if facts.devices:
        for driver, token in _drivers(tokens):
            if driver not in facts.devices and facts.driver(driver) not in facts.devices:
                raise UsageError(f"{token.raw[0]} {token.value}: {binary} has no device "
                                 f"{driver!r} (see -device help); nothing was started or changed")


def _drivers(tokens: list[Token]) -> Iterator[tuple[str, Token]]:
    """Each device driver the line names: ``-device`` drivers and NIC models."""
    for token in tokens:
        if token.value is None:
            continue
        if token.name == "device":
            props = qemuopts.properties(token.value, IMPLIED_KEY["device"])
            driver = props.get("driver")
            if not driver:
                raise UsageError(f"-device {token.value}: no driver given")
            yield str(driver), token
        elif token.name in ("net", "nic") and not qemuopts.is_json(token.value):
            opts = qemuopts.parse(token.value, IMPLIED_KEY[token.name])
            model = opts.get("model")
            if model and (token.name == "nic" or opts.get("type") == "nic"):
                yield NIC_MODELS.get(model, model), token


def is_local_file(path: str) -> bool:
    """A plain file name, not empty, a protocol (``nbd:``) or a ``/dev/fdset/``."""
    return bool(path) and not _PROTOCOL.match(path) and not path.startswith("/dev/fdset/")


def check_images(tokens: list[Token], exists: Callable[[str], bool] = os.path.exists) -> None:
    """Refuse a plain local image file that does not exist (relative to the working
    directory, as QEMU reads it). Protocols, ``/dev/fdset/`` and empty drives are QEMU's."""
    for path, token in _images(tokens):
        if is_local_file(path) and not exists(path):
            raise UsageError(f"image {path} (in {' '.join(token.raw)}) does not exist; "
                             "nothing was started or changed")


def _images(tokens: list[Token]) -> Iterator[tuple[str, Token]]:
    for token in tokens:
        value = token.value
        if value is None:
            continue
        if token.is_image or token.name in IMAGE_OPTIONS:
            yield value, token
        elif token.name == "drive":
            opts = qemuopts.parse(value)
            if not any(k.startswith("file.") for k, _ in opts.pairs):
                yield opts.get("file") or "", token
        elif token.name == "blockdev":
            props = qemuopts.properties(value, IMPLIED_KEY["blockdev"])
            if props.get("driver") in FILE_DRIVERS and isinstance(props.get("filename"), str):
                yield str(props["filename"]), token
