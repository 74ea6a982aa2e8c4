"""The demo: a small guest through qemuwrap, its pinned topology, then a disk added in front.

Starts the real QEMU paused (no display), reads what the guest would see over
QMP (with the same reader as the tests), and shows it next to what plain QEMU
would have done with the changed command line.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import guest  # noqa: E402

WRAPPER = [sys.executable, "-I", str(ROOT / "bin" / "qemuwrap")]
FIRST = ["-name", "demo", "-m", "256", "-drive", "file=system.img,if=virtio,format=raw",
         "-net", "nic,model=virtio", "-net", "user", "-device", "virtio-balloon-pci"]
SECOND = ["-name", "demo", "-m", "256", "-drive", "file=data.img,if=virtio,format=raw",
          *FIRST[4:]]


def table(title: str, topo: guest.Topology) -> dict[str, str]:
    """Print slot, device, PCI id and what identifies it; return identity -> slot."""
    print(f"\n{title}")
    print(f"  {'slot':8} {'device':18} {'pci id':10} identity")
    places: dict[str, str] = {}
    children = {int(d["parent"]): d for d in topo.devices if d.get("parent", "-1") != "-1"}
    rows = sorted((dev["addr"], index, dev) for index, dev in enumerate(topo.devices)
                  if "pciid" in dev and dev["path"].endswith(("pci.0", "pcie.0")))
    for _, index, dev in rows:
        child = children.get(index, {})
        drive = child.get("drive", "")
        ident = (f"disk {os.path.basename(topo.drives[drive])}" if drive in topo.drives
                 else f"mac {child.get('mac') or dev.get('mac')}"
                 if child.get("mac") or dev.get("mac") else "")
        print(f"  {dev['addr']:8} {dev['driver']:18} {dev['pciid'].split()[0]:10} {ident}")
        places[ident or dev["driver"]] = dev["addr"]
    return places


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="qemuwrap-demo-"))
    for name in ("system.img", "data.img"):
        with open(work / name, "wb") as f:
            f.truncate(64 << 20)
    env = dict(os.environ, QEMUWRAP_STATE_DIR=str(work / "state"),
               QEMUWRAP_QEMU=shutil.which(guest.QEMU) or guest.QEMU)
    print(f"qemuwrap demo in {work}\n$ qemuwrap {' '.join(FIRST)}")
    first = table("First launch through qemuwrap (what plain QEMU would show too):",
                  guest.launch(WRAPPER, FIRST, env=env, cwd=str(work)))
    print(f"\nNext week a data disk is added in front:\n$ qemuwrap {' '.join(SECOND)}")
    second = table("Second launch through qemuwrap:",
                   guest.launch(WRAPPER, SECOND, env=env, cwd=str(work)))
    plain = table("The same command line on plain QEMU:",
                  guest.launch([guest.QEMU], SECOND, cwd=str(work)))
    moved = [k for k in first if second.get(k) != first[k]]
    moved_plain = [k for k in first if plain.get(k) != first[k]]
    print(f"\nMoved through qemuwrap: {', '.join(moved) or 'nothing'}")
    print(f"Moved on plain QEMU:    {', '.join(moved_plain) or 'nothing'}")
    state = work / "state" / "demo.toml"
    print(f"\nThe pinned state, {state}:\n")
    print(state.read_text())
    return 1 if moved else 0


if __name__ == "__main__":
    sys.exit(main())
