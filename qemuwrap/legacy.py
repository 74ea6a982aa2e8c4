"""Options QEMU removed, rewritten to what replaced them, for the binary that lacks them.

An old command line keeps working on a new QEMU: a rewrite of a removed option
applies only when the installed binary no longer lists it in ``-help`` (cached
with its machine list), so an old QEMU still gets what it knows. Rewrites turn
tokens into tokens; the devices they produce are pinned like any other. The
sub-options QEMU dropped (``-drive boot=``, ``-net vlan=``) and ``-drive if=scsi``
are handled where drives and NICs are built, in model.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from qemuwrap import qemuopts
from qemuwrap.cmdline import Token
from qemuwrap.errors import UsageError
from qemuwrap.facts import BinaryFacts
from qemuwrap.options import IMPLIED_KEY
from qemuwrap.qemuopts import Opts

__all__ = ["DEVICE_RENAMES", "NEEDS", "REWRITES", "SLIRP", "SOUNDHW", "modernize", "option"]


def option(name: str, value: str | None = None) -> Token:
    return Token(name, value, (f"-{name}",) if value is None else (f"-{name}", value))


def _device(*pairs: tuple[str, str]) -> Token:
    return option("device", qemuopts.render(Opts(pairs), "driver"))


SOUNDHW = {"ac97": ["AC97"], "es1370": ["ES1370"], "sb16": ["sb16"], "gus": ["gus"],
           "adlib": ["adlib"], "cs4231a": ["cs4231a"], "pcspk": [],
           "hda": ["intel-hda", "hda-duplex"], "all": ["sb16", "ES1370", "AC97",
                                                       "intel-hda", "hda-duplex"]}
"""Each old card and the devices that replace it. The PC speaker (``pcspk``) is always on
the board; -soundhw only connected it to the host's sound, see ``_first_audiodev``."""


def _soundhw(token: Token, audiodev: str | None) -> list[Token]:
    out = []
    for card in (token.value or "").split(","):
        if card not in SOUNDHW:
            raise UsageError(f"-soundhw {card}: no modern equivalent known "
                             f"(known: {', '.join(SOUNDHW)})")
        out += [_device(("driver", d)) for d in SOUNDHW[card]]
        if card == "pcspk" and audiodev is not None:
            out.append(option("machine", f"pcspk-audiodev={qemuopts.escape(audiodev)}"))
    return out


def _first_audiodev(tokens: list[Token]) -> str | None:
    """The id of the line's first ``-audiodev``: the backend that every card naming none
    uses once any ``-audiodev`` exists (QEMU 7.2), so the speaker joins it.

    Without one the speaker stays unconnected: giving it an ``-audiodev`` of its own
    would move every other card of the line onto that backend, away from the default
    one they have now. The guest sees the same board either way."""
    for token in tokens:
        if token.name == "audiodev" and token.value:
            props = qemuopts.properties(token.value, IMPLIED_KEY["audiodev"])
            if props.get("id"):
                return str(props["id"])
    return None


def _balloon(token: Token) -> list[Token]:
    opts = qemuopts.parse(token.value or "", "driver")
    if opts.get("driver") == "none":
        return []
    if opts.get("driver") != "virtio":
        raise UsageError(f"-balloon {token.value}: only virtio and none were ever offered")
    pairs = [("driver", "virtio-balloon-pci")] + [(k, v or "on") for k, v in opts.pairs
                                                  if k != "driver"]
    return [_device(*pairs)]


def _watchdog(token: Token) -> list[Token]:
    model = (token.value or "").lower()
    if model not in ("i6300esb", "ib700"):
        raise UsageError(f"-watchdog {token.value}: expected i6300esb or ib700")
    return [_device(("driver", model))]


def _rtc(prop: str) -> Callable[[Token], list[Token]]:
    return lambda token: [option("rtc", prop.format(value=token.value))]


def _startdate(token: Token) -> list[Token]:
    base = "utc" if token.value == "now" else token.value
    return [option("rtc", f"base={base}")]


def _realtime(token: Token) -> list[Token]:
    opts = qemuopts.parse(token.value or "")
    return [option("overcommit", f"mem-lock={opts.get('mlock', 'on')}")]


def _run_with(prop: str) -> Callable[[Token], list[Token]]:
    return lambda token: [option("run-with", prop.format(value=token.value))]


def _fixed(*tokens: Token) -> Callable[[Token], list[Token]]:
    return lambda _token: list(tokens)


REWRITES: dict[str, tuple[str, str, Callable[[Token], list[Token]]]] = {
    "balloon": ("3.1", "-device virtio-balloon-pci", _balloon),
    "watchdog": ("7.2", "-device i6300esb|ib700 (-watchdog-action kept)", _watchdog),
    "no-kvm": ("5.2", "-accel tcg", _fixed(option("accel", "tcg"))),
    "no-acpi": ("9.0", "-machine acpi=off", _fixed(option("machine", "acpi=off"))),
    "no-hpet": ("9.0", "-machine hpet=off", _fixed(option("machine", "hpet=off"))),
    "localtime": ("3.1", "-rtc base=localtime", _rtc("base=localtime")),
    "startdate": ("3.1", "-rtc base=DATE", _startdate),
    "rtc-td-hack": ("3.1", "-rtc driftfix=slew", _rtc("driftfix=slew")),
    "nodefconfig": ("3.1", "-no-user-config", _fixed(option("no-user-config"))),
    "no-kvm-irqchip": ("3.0", "-machine kernel_irqchip=off",
                       _fixed(option("machine", "kernel_irqchip=off"))),
    "no-kvm-pit-reinjection": ("3.0", "-global kvm-pit.lost_tick_policy=discard",
                               _fixed(option("global", "kvm-pit.lost_tick_policy=discard"))),
    "no-kvm-pit": ("2.12", "nothing (QEMU had long ignored it)", _fixed()),
    "tdf": ("2.12", "-global kvm-pit.lost_tick_policy=delay",
            _fixed(option("global", "kvm-pit.lost_tick_policy=delay"))),
    "realtime": ("6.0", "-overcommit mem-lock=on|off", _realtime),
    "sdl": ("7.1", "-display sdl", _fixed(option("display", "sdl"))),
    "curses": ("7.1", "-display curses", _fixed(option("display", "curses"))),
    "chroot": ("9.0", "-run-with chroot=DIR", _run_with("chroot={value}")),
    "runas": ("10.0", "-run-with user=USER", _run_with("user={value}")),
    "async-teardown": ("10.0", "-run-with async-teardown=on",
                       _fixed(option("run-with", "async-teardown=on"))),
}
"""Removed option -> (QEMU version that removed it, what replaces it, the rewrite)."""

NEEDS = {"chroot": "run-with", "runas": "run-with", "async-teardown": "run-with"}
"""Rewrites whose replacement is itself an option some QEMUs lack."""

SLIRP = {"redir": ("3.1", "hostfwd"), "tftp": ("3.1", "tftp"), "bootp": ("3.1", "bootfile"),
         "smb": ("3.1", "smb")}
"""Removed options that were settings of the user-mode network: option -> netdev key."""

DEVICE_RENAMES = {"ide-drive": ("6.0", "ide-hd"), "scsi-disk": ("6.0", "scsi-hd")}


def _redir(value: str) -> str:
    """``tcp:2222::22`` (old) as ``tcp::2222-:22`` (hostfwd)."""
    parts = value.split(":")
    if len(parts) != 4 or parts[0] not in ("tcp", "udp"):
        raise UsageError(f"-redir {value}: expected [tcp|udp]:host-port:[guest-host]:guest-port")
    proto, host_port, guest_host, guest_port = parts
    return f"{proto}::{host_port}-{guest_host}:{guest_port}"


def _with_slirp(tokens: list[Token], settings: list[tuple[str, str]]) -> list[Token]:
    """Add user-network settings to the first user network; create QEMU's default one
    (``-net nic -net user``) if the command line had no network at all."""
    extra = ",".join(f"{k}={qemuopts.escape(v)}" for k, v in settings)
    for i, token in enumerate(tokens):
        if token.name in ("net", "netdev", "nic") and token.value and not qemuopts.is_json(
                token.value) and qemuopts.parse(token.value, "type").get("type") == "user":
            tokens[i] = option(token.name, f"{token.value},{extra}")
            return tokens
    if any(t.name in ("net", "netdev", "nic", "nodefaults") for t in tokens):
        raise UsageError(f"-{settings[0][0]}: no user-mode network to apply it to")
    return [*tokens, option("net", "nic"), option("net", f"user,{extra}")]


def _hdachs(tokens: list[Token], value: str) -> list[Token]:
    """``-hdachs c,h,s[,t]``: the geometry goes on the first IDE disk (index 0); without
    one there is nothing to give it to, as it was with the QEMUs that had it."""
    fields = value.split(",")
    if len(fields) not in (3, 4):
        raise UsageError(f"-hdachs {value}: expected cyls,heads,secs[,trans]")
    geometry = f"cyls={fields[0]},heads={fields[1]},secs={fields[2]}"
    if len(fields) == 4:
        geometry += f",trans={fields[3]}"
    for i, token in enumerate(tokens):
        first = token.name == "hda" or token.is_image or (
            token.name == "drive" and qemuopts.parse(token.value or "").get("index") == "0")
        if first:
            if token.name == "drive":
                tokens[i] = option("drive", f"{token.value},{geometry}")
            else:
                file = qemuopts.escape(token.value or "")
                tokens[i] = option("drive", f"file={file},index=0,media=disk,{geometry}")
            return tokens
    return tokens


def _usbdevice(token: Token) -> list[Token] | None:
    """``-usbdevice disk:FILE`` and ``host:...`` (gone in 2.12) as ``-device``."""
    value = token.value or ""
    if value.startswith("disk:"):
        ident = f"qwusb{sum(map(ord, value)) % 100000}"
        return [option("usb"), option("drive", f"if=none,id={ident},file="
                                              f"{qemuopts.escape(value[5:])}"),
                _device(("driver", "usb-storage"), ("drive", ident))]
    if value.startswith("host:"):
        spec = value[5:].split(":")
        if len(spec) == 2:
            pairs = (("vendorid", f"0x{spec[0]}"), ("productid", f"0x{spec[1]}"))
        elif len(spec) == 1 and "." in spec[0]:
            bus, addr = spec[0].split(".", 1)
            pairs = (("hostbus", bus), ("hostaddr", addr))
        else:
            raise UsageError(f"-usbdevice {value}: expected host:BUS.ADDR or host:VID:PID")
        return [option("usb"), _device(("driver", "usb-host"), *pairs)]
    return None


def _rename_device(token: Token, facts: BinaryFacts, cdrom_drives: set[str]) -> Token:
    value = token.value or ""
    if qemuopts.is_json(value):
        data = qemuopts.parse_json(value)
        old = str(data.get("driver", ""))
        if old in DEVICE_RENAMES and old not in facts.devices:
            data["driver"] = _renamed(old, str(data.get("drive", "")) in cdrom_drives)
            return option("device", json.dumps(data))
        return token
    opts = qemuopts.parse(value, IMPLIED_KEY["device"])
    old = opts.get("driver") or ""
    if old in DEVICE_RENAMES and old not in facts.devices:
        new = _renamed(old, (opts.get("drive") or "") in cdrom_drives)
        return option("device", qemuopts.render(opts.with_("driver", new), "driver"))
    return token


def _renamed(old: str, cdrom: bool) -> str:
    new = DEVICE_RENAMES[old][1]
    return new.replace("-hd", "-cd") if cdrom else new


def modernize(tokens: list[Token], facts: BinaryFacts) -> list[Token]:
    """The command line with every removed option the binary lacks rewritten."""
    if not facts.options:
        return tokens

    def gone(name: str) -> bool:
        return name not in facts.options and NEEDS.get(name, name) in facts.options | {name}

    cdrom_drives = {o.get("id") or "" for t in tokens if t.name == "drive" and t.value
                    for o in [qemuopts.parse(t.value)] if o.get("media") == "cdrom"}
    out: list[Token] = []
    slirp: list[tuple[str, str]] = []
    hdachs: str | None = None
    for token in tokens:
        name = token.name or ""
        if name == "soundhw" and gone(name):
            out += _soundhw(token, _first_audiodev(tokens))
        elif name in REWRITES and gone(name):
            out += REWRITES[name][2](token)
        elif name in SLIRP and gone(name):
            value = token.value or ""
            slirp.append((SLIRP[name][1], _redir(value) if name == "redir" else value))
        elif name == "hdachs" and gone(name):
            hdachs = token.value or ""
        elif name == "usbdevice" and (rewritten := _usbdevice(token)) is not None:
            out += rewritten
        elif name == "device" and token.value:
            out.append(_rename_device(token, facts, cdrom_drives))
        else:
            out.append(token)
    if hdachs is not None:
        out = _hdachs(out, hdachs)
    if slirp:
        out = _with_slirp(out, slirp)
    return out
