"""Build qemuwrap(1), qemuwrap-ctl(1) and the bash completion from one source.

The wrapper's page is the text below; qemuwrap-ctl's page and its completion
come from the argparse parser in qemuwrap/ctl/__init__.py, the same one ``--help``
prints, so they cannot drift apart. ``python3 contrib/man/build.py`` rewrites
the files; ``--check`` fails if a committed file is stale (the tests run it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from qemuwrap import __version__  # noqa: E402
from qemuwrap.ctl import parser  # noqa: E402

DATE = "2026-11-25"

QEMUWRAP = {
    "NAME": "qemuwrap \\- run QEMU with every guest device pinned to the address it had",
    "SYNOPSIS": ".B qemuwrap\n.I QEMU-ARGUMENTS...",
    "DESCRIPTION": """\
.B qemuwrap
stands where the QEMU binary stood (as itself, as
.B qemu-kvm
or
.BR kvm ,
or as libvirt's emulator). It reads the QEMU command line, turns every
device it can into an explicit
.B \\-device ...,bus=...,addr=...
(plus
.B \\-drive if=none
and
.B \\-netdev
backends), takes each device's PCI slot.function, MAC address, IDE unit and
USB port and the machine type from the guest's state file, gives new devices
never-used addresses and records them, and then executes the real QEMU with
the same process ID, standard streams and environment.
.PP
The first launch of a guest shows it what plain QEMU would have shown; after
that, devices keep their addresses however the command line is reordered or
devices are added and removed, and an alias machine type such as
.B pc
stays the versioned machine it first resolved to.
.PP
A command line without
.BR \\-name ,
a query such as
.BR \\-version ,
.BR "\\-machine help" ,
.B "\\-device help"
or libvirt's
.B "\\-machine none"
probe, and a machine other than pc or q35 are passed to QEMU untouched, and
no state is written.""",
    "IDENTITY": """\
A device is recognised on the next launch by, in order: its
.BR id= ;
for a disk, its image path as written; for a NIC, an explicit MAC; the
board's own VGA and CD-ROM by role; otherwise its driver and ordinal among
devices of that driver. Use
.B qemuwrap-ctl rename
after renaming an image.
.PP
A command line launched again gets exactly what it had the last time it ran:
a device that comes back gets its address, MAC, unit and port back; hubs and
bridges qemuwrap added are there only while a device sits behind them; an
emptied bridge is kept while a bridge after it is there, so that the
firmware's bus numbers stay. A launch with an option or device the installed
QEMU does not offer, or a missing local image, is refused before anything is
written.""",
    "ENVIRONMENT": """\
.TP
.B QEMUWRAP_QEMU
The real QEMU binary.
.TP
.B QEMUWRAP_CONFIG
The configuration file (default /etc/qemuwrap/config.toml), with the keys
.B qemu
and
.BR state_dir .
.TP
.B QEMUWRAP_STATE_DIR
Where the state files are: default /var/lib/qemuwrap for root, else
$XDG_STATE_HOME/qemuwrap.
.TP
.B QEMUWRAP_DEBUG
When set, the command line executed is printed on standard error.""",
    "EXIT STATUS": """\
QEMU's own, once it runs. Before that, 1 with a one-line message on standard
error prefixed
.BR qemuwrap: ,
and nothing launched: an unreadable state file, a command line it cannot
parse, an explicit address that collides with a pinned one, a pinned machine
the installed QEMU no longer offers.""",
    "FILES": """\
.TP
.I STATE_DIR/NAME.toml
The guest's state: schema_version, name, machine, and a [[device]] table per
device (key, driver, bus, slot and function, unit or port, mac, last_seen);
removed devices as [[tombstone]] tables.
.TP
.I STATE_DIR/NAME.toml.lock
The guest's lock for reading and writing its state.
.TP
.I STATE_DIR/NAME.toml.run
Locked by the guest's QEMU while it runs.
.TP
.I STATE_DIR/NAME.toml.pid
The -pidfile of a -daemonize'd guest (a symlink to the one its command line
names, if it names one); QEMU's daemon keeps it locked while it runs.
.TP
.I STATE_DIR/NAME.toml.bak
The last good state.
.TP
.I STATE_DIR/.cache/
What each QEMU binary offers, keyed by its path, size and mtime.
.TP
.I STATE_DIR/.replay/
The argv of each command line's last planned launch, replayed while nothing it
came from has changed.""",
    "SEE ALSO": ".BR qemuwrap-ctl (1),\n.BR qemu-system-x86_64 (1)",
}


def escape(text: str) -> str:
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join(("\\&" + line) if line.startswith((".", "'")) else line
                     for line in text.splitlines())


def header(name: str, description: str) -> str:
    return (f'.TH {name.upper()} 1 "{DATE}" "qemuwrap {__version__}" "{description}"\n')


def page(name: str, sections: dict[str, str]) -> str:
    out = [header(name, "User Commands")]
    for title, body in sections.items():
        out.append(f".SH {title}\n{body}\n")
    return "".join(out)


def subcommands(top: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in top._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def ctl_page() -> str:
    top = parser()
    lines = [".B qemuwrap-ctl\n.I COMMAND\n[\n.I OPTIONS\n]"]
    body = []
    for sub in subcommands(top).values():
        usage = sub.format_usage().removeprefix("usage: ").strip()
        body.append(f".TP\n.B {escape(usage)}\n{escape(sub.description or '')}")
        for action in sub._actions:
            if action.option_strings and action.help and action.dest != "help":
                body.append(f".RS\n.TP\n.B {escape(', '.join(action.option_strings))}\n"
                            f"{escape(action.help)}\n.RE")
    return page("qemuwrap-ctl", {
        "NAME": "qemuwrap-ctl \\- see, plan and manage the addresses qemuwrap pins",
        "SYNOPSIS": "\n".join(lines),
        "DESCRIPTION": escape(top.description or ""),
        "COMMANDS": "\n".join(body),
        "EXIT STATUS": "0 ok, 1 refused or different, 2 usage.",
        "ENVIRONMENT": QEMUWRAP["ENVIRONMENT"],
        "SEE ALSO": ".BR qemuwrap (1)",
    })


def completion() -> str:
    subs = subcommands(parser())
    cases = []
    for name, sub in subs.items():
        options = " ".join(o for a in sub._actions for o in a.option_strings)
        takes_guest = any(a.dest == "name" for a in sub._actions)
        cases.append(f'        {name}) opts="{options}"; guests={int(takes_guest)} ;;')
    return f"""# bash completion for qemuwrap-ctl; generated by contrib/man/build.py
_qemuwrap_ctl() {{
    local cur=${{COMP_WORDS[COMP_CWORD]}} command=${{COMP_WORDS[1]}} opts guests=0
    if [ "$COMP_CWORD" -eq 1 ]; then
        COMPREPLY=($(compgen -W "{' '.join(subs)} --help" -- "$cur"))
        return
    fi
    case "$command" in
{chr(10).join(cases)}
        *) return ;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    elif [ "$guests" = 1 ] && [ "$COMP_CWORD" -eq 2 ]; then
        COMPREPLY=($(compgen -W "$(qemuwrap-ctl list 2>/dev/null | awk 'NR > 1 {{print $1}}')" \\
                     -- "$cur"))
    else
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
}}
complete -F _qemuwrap_ctl qemuwrap-ctl
"""


OUTPUTS = {
    ROOT / "contrib" / "man" / "qemuwrap.1": lambda: page("qemuwrap", QEMUWRAP),
    ROOT / "contrib" / "man" / "qemuwrap-ctl.1": ctl_page,
    ROOT / "contrib" / "bash-completion" / "qemuwrap-ctl": completion,
}


def main() -> int:
    check = "--check" in sys.argv[1:]
    stale = []
    for path, build in OUTPUTS.items():
        text = build()
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path))
        else:
            path.write_text(text)
    if stale:
        print("stale, run python3 contrib/man/build.py: " + ", ".join(stale), file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
