"""qemuwrap's cost on a guest start, measured side by side (issue: performance).

    python bench/run.py [--repeat N]

qemuwrap is timed as users run it: the command pip installs (``pip install .`` into
a fresh virtual environment made for the run), started by its path. With
QEMUWRAP_QEMU pointing at /bin/true only the wrapper is timed: qemuwrap
does its whole job (read the state, plan, write the state) and then execs
/bin/true instead of QEMU. The runs alternate (A B C D E, A B C D E, ...) and
each figure is a median; max RSS comes from wait4() of the child, which on
Linux keeps the wrapper's peak across the exec (see peak_rss for how).

  A  python3 -I -c pass, the interpreter qemuwrap runs on (the venv's; the floor)
  B  a 30-device guest whose state exists (the daily case)
  C  the same guest's first launch (no state; the machine list cached)
  D  a 250-device guest (bridges in use), state existing
  E  B with 10,000 other guests' state files in the state directory
  G  libvirt's own argv for a q35 Windows guest (tests/data/libvirt/lvwin.argv), its
     per-start parts (the domain-N directory, the tap fd) different at every start: the
     full pipeline each time, as under libvirt
  H  python3 -I -c 'import dataclasses, tomllib, tomli_w': the libraries the design asks
     for (a frozen dataclass state, read with tomllib, written with tomli_w), imported and
     nothing else: no launch that reads or writes a state can cost less (H/A bounds C/A)
  RSS: each case once more per round, forked from a small interpreter
  F  real QEMU to QMP-ready and quit (-S, -qmp stdio), plain and through qemuwrap
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qemuwrap import facts  # noqa: E402

QEMU = shutil.which("qemu-system-x86_64") or "qemu-system-x86_64"
QMP_QUIT = b'{"execute":"qmp_capabilities"}\n{"execute":"quit"}\n'


def guest_30(name: str) -> list[str]:
    """30 devices: VGA, 4 NICs, 12 virtio disks, 4 IDE drives (with the CD-ROM), 9 others."""
    args = ["-name", name, "-m", "1G"]
    args += [w for i in range(12) for w in ("-drive", f"file=disk{i}.qcow2,if=virtio")]
    args += ["-hda", "ide0.qcow2", "-hdb", "ide1.qcow2", "-hdd", "ide3.qcow2"]
    args += [w for i in range(4) for w in ("-nic", f"user,model=virtio,mac=52:54:00:00:00:{i:02x}")]
    args += ["-device", "virtio-balloon-pci", "-device", "virtio-rng-pci", "-usb",
             "-device", "usb-tablet", "-device", "usb-kbd", "-device", "virtio-scsi-pci",
             "-device", "virtio-serial-pci", "-device", "intel-hda", "-device", "qemu-xhci"]
    return args


def libvirt_start(n: int, images: Path) -> list[str]:
    """libvirt's argv for its n-th start of the domain: nothing of it replays."""
    import shlex

    text = (ROOT / "tests" / "data" / "libvirt" / "lvwin.argv").read_text()
    text = text.replace("domain--1-", f"domain-{n}-").replace('"fd":"25"', f'"fd":"{n % 90 + 10}"')
    return shlex.split(text.replace("/tmp/lv/", f"{images}/"))[1:]


def guest_250(name: str) -> list[str]:
    args = ["-name", name, "-nodefaults"]
    return args + [w for i in range(250) for w in ("-drive", f"file=d{i}.qcow2,if=virtio")]


LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.execv(sys.argv[1], sys.argv[1:])
print(os.wait4(pid, 0)[2].ru_maxrss)
"""


def peak_rss(argv: list[str], env: dict[str, str]) -> int:
    """Max RSS (KiB) of a run, forked from a small interpreter (python -I -S): a child
    forked from this big process would count this process's pages as its own."""
    done = subprocess.run([sys.executable, "-I", "-S", "-c", LAUNCHER, *argv], env=env,
                          capture_output=True, text=True, check=True)
    return int(done.stdout)


def run(argv: list[str], env: dict[str, str], stdin: bytes | None = None) -> tuple[float, int]:
    """Wall seconds and (not meaningful, see peak_rss) max RSS of one run."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if stdin:
        assert proc.stdin is not None
        proc.stdin.write(stdin)
        proc.stdin.close()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{argv[:3]}... failed with {proc.returncode}")
    return elapsed, usage.ru_maxrss


def seed_cache(cache: Path, binary: str) -> None:
    """Give /bin/true the real QEMU's facts in the cache, as if it were that QEMU."""
    real = facts.load(QEMU, cache)
    st = os.stat(binary)
    data = {"format": facts.CACHE_FORMAT, "path": os.path.realpath(binary), "size": st.st_size,
            "mtime_ns": st.st_mtime_ns, **facts.to_json(real)}
    facts._cache_file(cache, binary).write_text(json.dumps(data))


def make_images(args: list[str]) -> None:
    """The (empty) image files a line names, in the working directory: qemuwrap refuses a
    launch whose local image does not exist, as QEMU would."""
    for option, value in itertools.pairwise(args):
        names = re.findall(r"(?:^|,)file=([^,]+)", value) if option == "-drive" else (
            [value] if option in ("-hda", "-hdb", "-hdc", "-hdd") else [])
        for name in names:
            Path(name).touch()


def install(venv_dir: Path) -> tuple[str, str]:
    """``pip install`` the checkout into a new virtual environment: (its python, qemuwrap)."""
    subprocess.run([sys.executable, "-m", "venv", str(venv_dir)], check=True)
    python, wrapper = str(venv_dir / "bin" / "python3"), str(venv_dir / "bin" / "qemuwrap")
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    str(ROOT)], check=True)
    return python, wrapper


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="qemuwrap-bench-"))
    os.chdir(work)
    make_images([*guest_30("x"), *guest_250("x")])
    true = shutil.which("true") or "/bin/true"
    env = dict(os.environ, QEMUWRAP_QEMU=true, QEMUWRAP_STATE_DIR=str(work / "state"),
               QEMUWRAP_CONFIG=str(work / "none.toml"))
    crowded = dict(env, QEMUWRAP_STATE_DIR=str(work / "crowded"))
    for directory in (work / "state", work / "crowded"):
        directory.mkdir(mode=0o700)
        seed_cache(directory / ".cache", true)
    python, wrapper = install(work / "venv")
    cases = {
        "A": ([python, "-I", "-c", "pass"], env, None),
        "B": ([wrapper, *guest_30("daily")], env, None),
        "C": ([wrapper, *guest_30("first")], env, None),
        "D": ([wrapper, *guest_250("big")], env, None),
        "E": ([wrapper, *guest_30("daily")], crowded, None),
        "G": ([wrapper], env, None),
        "H": ([python, "-I", "-c", "import dataclasses, tomllib, tomli_w"], env, None),
    }
    for image in ("win.img", "win.iso"):
        (work / image).touch()
    starts = itertools.count()
    run(cases["B"][0], env)
    run(cases["D"][0], env)
    run(cases["E"][0], crowded)
    template = (work / "crowded" / "daily.toml").read_text()
    for i in range(10_000):
        (work / "crowded" / f"other{i:05}.toml").write_text(template.replace('"daily"',
                                                                             f'"other{i:05}"'))
    times: dict[str, list[float]] = {k: [] for k in cases}
    rss: dict[str, list[int]] = {k: [] for k in cases}
    first_state = work / "state" / "first.toml"
    for _ in range(args.repeat):
        for key, (argv, case_env, _) in cases.items():
            if key == "G":
                argv = [wrapper, *libvirt_start(next(starts), work)]
            if key == "C":
                first_state.unlink(missing_ok=True)
            times[key].append(run(argv, case_env)[0])
            if key == "C":
                first_state.unlink(missing_ok=True)
            if key == "G":
                argv = [wrapper, *libvirt_start(next(starts), work)]
            rss[key].append(peak_rss(argv, case_env))
    qemu_env = dict(os.environ, QEMU_AUDIO_DRV="none", QEMUWRAP_QEMU=QEMU,
                    QEMUWRAP_STATE_DIR=str(work / "qemu-state"),
                    QEMUWRAP_CONFIG=str(work / "none.toml"))
    f_args = ["-name", "fguest", "-S", "-display", "none", "-qmp", "stdio", "-accel", "tcg"]
    f_plain: list[float] = []
    f_wrapped: list[float] = []
    run([wrapper, *f_args], qemu_env, QMP_QUIT)
    for _ in range(max(5, args.repeat // 2)):
        f_plain.append(run([QEMU, *f_args], qemu_env, QMP_QUIT)[0])
        f_wrapped.append(run([wrapper, *f_args], qemu_env, QMP_QUIT)[0])
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, {args.repeat} rounds, "
          f"state in {work}")
    for key in cases:
        print(f"  {key}: median {med[key] * 1000:7.1f} ms   "
              f"max RSS {statistics.median(rss[key]):7.0f} KiB")
    fp, fw = statistics.median(f_plain), statistics.median(f_wrapped)
    print(f"  F: QEMU to QMP-ready and quit: plain {fp * 1000:.1f} ms, through qemuwrap "
          f"{fw * 1000:.1f} ms")
    print(f"  B/A {med['B'] / med['A']:.2f}  C/A {med['C'] / med['A']:.2f}  "
          f"D/B {med['D'] / med['B']:.2f}  E/B {med['E'] / med['B']:.2f}  "
          f"G/A {med['G'] / med['A']:.2f}  H/A {med['H'] / med['A']:.2f}  "
          f"F(wrapped)/F(plain) {fw / fp:.2f}  RSS B/A "
          f"{statistics.median(rss['B']) / statistics.median(rss['A']):.2f}")
    shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
