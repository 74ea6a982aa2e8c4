"""What an installed QEMU binary offers, asked once and cached by path, size and mtime.

``-machine help`` gives the machine types and what the aliases (``pc``, ``q35``)
mean today; ``-device help`` gives each device's bus type, category and aliases;
``-help`` the options it still accepts. A launch reads one small JSON file; the
binary itself is asked again only when it changes (a package upgrade).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from qemuwrap import paths
from qemuwrap.errors import MachineError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["CACHE_FORMAT", "BinaryFacts", "from_json", "load", "parse_device_help", "parse_help",
           "parse_machine_help", "probe", "to_json"]

CACHE_FORMAT = 2


@dataclass(frozen=True)
class BinaryFacts:
    machines: dict[str, str]
    """Every machine type offered, mapped to what it stands for (itself, or an alias's target)."""
    default_machine: str
    devices: dict[str, tuple[str, str]]
    """Driver name to (bus type, category): ``"e1000": ("PCI", "Network devices")``."""
    aliases: dict[str, str] = field(default_factory=dict)
    options: frozenset[str] = frozenset()

    def driver(self, name: str) -> str:
        """The canonical driver name (``virtio-net`` is ``virtio-net-pci`` on x86)."""
        return self.aliases.get(name, name)

    def bus_of(self, driver: str) -> str:
        return self.devices.get(self.driver(driver), ("", ""))[0]

    def is_pci(self, driver: str) -> bool:
        return self.bus_of(driver) == "PCI"

    def is_nic(self, driver: str) -> bool:
        return self.devices.get(self.driver(driver), ("", ""))[1] == "Network devices"


_MACHINE = re.compile(r"^(\S+)\s+(.*?)$")
_ALIAS = re.compile(r"\(alias of ([^)]+)\)")
_DEVICE = re.compile(r'^name "([^"]+)"(?:, bus ([^,\s]+))?(?:, alias "([^"]+)")?')
_OPTION = re.compile(r"^--?([\w-]+)((?:/-[\w-]+)*)(?: or -([\w-]+))?")
"""An option at the start of a ``-help`` line: ``-machine``, ``--preconfig``, the pairs
``-hda/-hdb`` and ``-fda/-fdb``, and ``-h or -help``."""


def parse_machine_help(text: str) -> tuple[dict[str, str], str]:
    machines: dict[str, str] = {}
    default = ""
    for line in text.splitlines()[1:]:
        m = _MACHINE.match(line)
        if not m:
            continue
        name, rest = m.groups()
        alias = _ALIAS.search(rest)
        machines[name] = alias.group(1) if alias else name
        if "(default)" in rest:
            default = machines[name]
    return machines, default


def parse_device_help(text: str) -> tuple[dict[str, tuple[str, str]], dict[str, str]]:
    devices: dict[str, tuple[str, str]] = {}
    aliases: dict[str, str] = {}
    category = ""
    for line in text.splitlines():
        if line.endswith(":") and not line.startswith("name"):
            category = line[:-1]
            continue
        m = _DEVICE.match(line)
        if m:
            name, bus, alias = m.groups()
            devices[name] = (bus or "", category)
            if alias:
                aliases[alias] = name
    return devices, aliases


def parse_help(text: str) -> frozenset[str]:
    found: set[str] = set()
    for line in text.splitlines():
        m = _OPTION.match(line)
        if m:
            found.add(m.group(1))
            found.update(o for o in m.group(2).split("/-") if o)
            if m.group(3):
                found.add(m.group(3))
    return frozenset(found)


def _ask(binary: str, *args: str) -> str:
    from qemuwrap.command import output  # only when the cache misses: never on a daily launch

    return output([binary, *args], MachineError, env=dict(os.environ, QEMU_AUDIO_DRV="none"))


def probe(binary: str) -> BinaryFacts:
    """Ask the binary itself (three short runs)."""
    machines, default = parse_machine_help(_ask(binary, "-machine", "help"))
    devices, aliases = parse_device_help(_ask(binary, "-device", "help"))
    options = parse_help(_ask(binary, "-help"))
    return BinaryFacts(machines, default, devices, aliases, options)


def to_json(facts: BinaryFacts) -> dict[str, object]:
    return {**asdict(facts), "options": sorted(facts.options)}


def from_json(data: dict[str, Any]) -> BinaryFacts:
    return BinaryFacts(machines=data["machines"], default_machine=data["default_machine"],
                       devices={k: (v[0], v[1]) for k, v in data["devices"].items()},
                       aliases=data["aliases"], options=frozenset(data["options"]))


def _cache_file(cache_dir: Path, binary: str) -> Path:
    """One file per binary, named after its resolved path: ``usr%bin%qemu-system-x86_64.json``."""
    name = os.path.realpath(binary).strip("/").replace("%", "%25").replace("/", "%")
    return cache_dir / f"{name[-200:]}.json"


def load(binary: str, cache_dir: Path | None) -> BinaryFacts:
    """The binary's facts, from the cache when the binary has not changed since."""
    st = os.stat(binary)
    stamp = {"format": CACHE_FORMAT, "path": os.path.realpath(binary),
             "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    path = _cache_file(cache_dir, binary) if cache_dir is not None else None
    if path is not None:
        try:
            data = json.loads(path.read_text())
            if all(data.get(k) == v for k, v in stamp.items()):
                return from_json(data)
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            pass
    facts = probe(binary)
    if path is not None:
        _store(path, {**stamp, **to_json(facts)})
    return facts


def _store(path: Path, data: dict[str, object]) -> None:
    """Write the cache atomically; a cache that cannot be written is only a lost speed-up."""
    try:
        paths.make_private(str(path.parent))
        state_dir = str(path.parent.parent)
        directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            paths.keep_owner(directory, state_dir)
        finally:
            os.close(directory)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "w") as f:
            paths.keep_owner(f.fileno(), state_dir)
            f.write(json.dumps(data))
        os.replace(tmp, path)
    except OSError:
        pass
