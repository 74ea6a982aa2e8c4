"""A tiny Linux guest that tells what it sees, built from Debian's packages at test set-up.

Debian's kernel (``linux-image-amd64``) and ``busybox-static`` are fetched with
``apt-get download`` (nothing else from outside), unpacked, and turned into an
initramfs whose ``/init`` loads the drivers the tests' devices need, prints on the
serial console every PCI function, every NIC's MAC and the names systemd would give
it (``enpXsY`` from the PCI path, ``ensN`` from the hotplug slot, ``enoN`` from the
firmware's index), every disk's ``/dev/disk/by-path`` name and the marker written
into its image, then powers off. Built once per kernel version (and version of /init) and cached.

A boot takes a few seconds under TCG. On these machines ``/dev/kvm`` opens but a
stock kernel does not boot on it (a nested, paravirtual KVM): KVM is tried once, the
answer remembered, and TCG used otherwise.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import guest

CACHE = Path(os.environ.get("QEMUWRAP_TEST_CACHE", Path.home() / ".cache" / "qemuwrap-test"))
DRIVERS = ("virtio_pci", "virtio_blk", "virtio_net", "e1000", "e1000e", "8139cp", "8139too",
           "ata_piix", "ahci", "sd_mod", "sr_mod")
APPEND = "console=ttyS0 quiet panic=-1 loglevel=3"

INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /modules.order); do insmod /lib/modules/$m.ko 2>/dev/null; done
sleep 2
pcidev() {
  p=$(readlink -f "$1")
  while [ "$p" != / ] && [ -n "$p" ]; do
    case "${p##*/}" in ????:??:??.?) echo "$p"; return;; esac
    p=${p%/*}
  done
}
echo QWGUEST-BEGIN
for d in /sys/bus/pci/devices/*; do
  echo "PCI ${d##*/} $(cat $d/vendor) $(cat $d/device) $(cat $d/class)"
done
for n in /sys/class/net/*; do
  [ "${n##*/}" = lo ] && continue
  p=$(pcidev $n/device); a=${p##*/}
  bus=$((0x$(echo $a | cut -d: -f2))); slot=$((0x$(echo $a | cut -d: -f3 | cut -d. -f1)))
  fn=${a##*.}
  enp="enp${bus}s${slot}"; [ "$fn" != 0 ] && enp="${enp}f${fn}"
  ens=-
  for s in /sys/bus/pci/slots/*; do
    [ -f $s/address ] && [ "$(cat $s/address)" = "${a%.*}" ] && ens="ens${s##*/}"
  done
  eno=-
  [ -f $p/acpi_index ] && [ "$(cat $p/acpi_index)" != 0 ] && eno="eno$(cat $p/acpi_index)"
  echo "NIC $(cat $n/address) $a $(cat $p/device) $enp $ens $eno"
done
for b in /sys/block/vd* /sys/block/sd* /sys/block/sr*; do
  [ -e "$b" ] || continue
  x=${b##*/}; dev=$(readlink -f $b/device); p=$(pcidev $b/device); path="pci-${p##*/}"
  case "$dev" in
    */ata*) port=$(echo "$dev" | sed -n 's|.*/ata\([0-9]*\)/.*|\1|p')
            path="$path-ata-$port.$(echo ${dev##*/} | cut -d: -f3)";;
  esac
  mark=$(dd if=/dev/$x bs=2048 count=1 2>/dev/null | head -c 16 | tr -cd 'A-Za-z0-9._-')
  serial=$(cat $b/serial 2>/dev/null)
  echo "DISK $path ${mark:--} ${serial:--}"
done
echo QWGUEST-END
poweroff -f
"""


def _download(where: Path) -> list[Path]:
    """The kernel and busybox packages, fetched with apt-get (the lists updated if stale)."""
    def fetch() -> subprocess.CompletedProcess[str]:
        meta = subprocess.run(["apt-cache", "depends", "linux-image-amd64"],
                              capture_output=True, text=True, check=False).stdout
        kernel = re.findall(r"Depends: (linux-image-\d\S*-amd64)", meta)
        return subprocess.run(["apt-get", "download", "-q", *kernel[:1], "busybox-static"],
                              cwd=where, capture_output=True, text=True, check=False)

    done = fetch()
    if done.returncode != 0 or not list(where.glob("linux-image-*.deb")):
        subprocess.run(["apt-get", "update", "-qq"], check=True, capture_output=True)
        done = fetch()
    assert done.returncode == 0, done.stderr
    return sorted(where.glob("*.deb"))


def _modules(tree: Path, version: str) -> list[tuple[str, bytes]]:
    """The drivers and what they depend on (``depends=`` in each module), in load order."""
    found = {p.name.removesuffix(".ko"): p for p in (tree / "lib/modules" / version).rglob("*.ko")}
    order: list[str] = []

    def add(name: str) -> None:
        name = name.replace("-", "_") if name not in found else name
        if name in order or name not in found:
            return
        deps = re.findall(rb"depends=([^\0]*)\0", found[name].read_bytes())
        for dep in (deps[0].decode().split(",") if deps and deps[0] else []):
            add(dep)
        order.append(name)

    for driver in DRIVERS:
        add(driver)
    return [(name, found[name].read_bytes()) for name in order]


def _cpio(entries: list[tuple[str, int, bytes]]) -> bytes:
    """A cpio archive in the kernel's ``newc`` format: (path, mode, content or link target)."""
    out = bytearray()
    for ino, (name, mode, data) in enumerate([*entries, ("TRAILER!!!", 0, b"")], 1):
        path = name.encode() + b"\0"
        fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(path), 0)
        out += b"070701" + "".join(f"{v:08x}" for v in fields).encode() + path
        out += b"\0" * (-len(out) % 4) + data
        out += b"\0" * (-len(out) % 4)
    return bytes(out)


def build() -> tuple[Path, Path]:
    """(kernel, initrd), from the cache or made now."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        debs = _download(Path(tmp))
        kernel_deb = next(d for d in debs if d.name.startswith("linux-image-6") or
                          re.match(r"linux-image-\d", d.name))
        recipe = hashlib.sha256(f"{INIT}{DRIVERS}{APPEND}".encode()).hexdigest()[:12]
        target = CACHE / f"{kernel_deb.name.removesuffix('.deb')}-{recipe}"
        if (target / "initrd.gz").exists():
            return target / "vmlinuz", target / "initrd.gz"
        tree = Path(tmp) / "tree"
        for deb in debs:
            subprocess.run(["dpkg-deb", "-x", str(deb), str(tree)], check=True)
        version = next((tree / "lib/modules").iterdir()).name
        entries: list[tuple[str, int, bytes]] = [
            (d, 0o040755, b"") for d in ("bin", "dev", "proc", "sys", "lib", "lib/modules")]
        entries.append(("bin/busybox", 0o100755, (tree / "bin/busybox").read_bytes()))
        entries.append(("init", 0o100755, INIT.encode()))
        modules = _modules(tree, version)
        entries += [(f"lib/modules/{name}.ko", 0o100644, data) for name, data in modules]
        entries.append(("modules.order", 0o100644,
                        "".join(f"{name}\n" for name, _ in modules).encode()))
        staging = Path(tmp) / "out"
        staging.mkdir()
        shutil.copy(tree / "boot" / f"vmlinuz-{version}", staging / "vmlinuz")
        (staging / "initrd.gz").write_bytes(gzip.compress(_cpio(entries), 6))
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    return target / "vmlinuz", target / "initrd.gz"


@dataclass
class View:
    """What the booted guest reported."""

    pci: list[str] = field(default_factory=list)
    nics: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """MAC -> (PCI address, PCI device id, enp name, ens name, eno name)."""
    disks: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Image marker -> (by-path name, serial)."""

    def name(self, mac: str) -> str:
        """The name systemd gives the NIC: onboard index, else hotplug slot, else path."""
        _, _, enp, ens, eno = self.nics[mac]
        return eno if eno != "-" else ens if ens != "-" else enp


def parse(console: str) -> View:
    view = View()
    if "QWGUEST-END" not in console:
        raise RuntimeError(f"the guest did not finish: {console[-2000:]}")
    body = console.split("QWGUEST-BEGIN", 1)[1].split("QWGUEST-END", 1)[0]
    for line in body.splitlines():
        words = line.split()
        if words[:1] == ["PCI"]:
            view.pci.append(" ".join(words[1:]))
        elif words[:1] == ["NIC"] and len(words) == 7:
            view.nics[words[1]] = tuple(words[2:])
        elif words[:1] == ["DISK"] and len(words) == 4:
            view.disks[words[2]] = (words[1], words[3])
    view.pci.sort()
    return view


ACCEL_FILE = CACHE / "accel"
"""The accelerator a stock kernel boots with on this machine, found once."""


def _accels() -> list[str]:
    if ACCEL_FILE.exists():
        return [ACCEL_FILE.read_text().strip()]
    return ["kvm", "tcg"] if guest.accel() == "kvm" else ["tcg"]


def boot(prefix: list[str], args: list[str], env: dict[str, str], cwd: Path,
         timeout: float = 120) -> View:
    """Boot the tiny guest with ``prefix + args``; what it saw."""
    kernel, initrd = build()
    accels = _accels()
    for accel in accels:
        with tempfile.TemporaryDirectory(prefix="qw-boot-") as tmp:
            console = Path(tmp) / "console"
            argv = [*prefix, *args, "-m", "256", "-kernel", str(kernel), "-initrd", str(initrd),
                    "-append", APPEND, "-display", "none", "-serial", f"file:{console}",
                    "-no-reboot", "-accel", accel]
            try:
                done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True,
                                      timeout=timeout if len(accels) == 1 else 20, check=False)
                failed = done.returncode != 0
            except subprocess.TimeoutExpired:
                failed = True
            text = console.read_text(errors="replace") if console.exists() else ""
            if not failed and "QWGUEST-END" in text:
                ACCEL_FILE.write_text(accel)
                return parse(text)
            if accel == accels[-1]:
                raise RuntimeError(f"{argv} failed: {done.stderr[-1000:] if not failed else ''}"
                                   f"{text[-2000:]}")
    raise AssertionError("unreachable")
