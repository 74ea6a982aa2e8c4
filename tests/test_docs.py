"""Man pages and completion are built from the parser; the committed ones must be current."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import ROOT, Workspace

COMPLETION = ROOT / "contrib" / "bash-completion" / "qemuwrap-ctl"


def test_generated_files_are_current() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "contrib" / "man" / "build.py"), "--check"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def complete(ws: Workspace, *words: str) -> list[str]:
    script = (f"source {COMPLETION}; COMP_WORDS=({' '.join(words)}); "
              f"COMP_CWORD={len(words) - 1}; _qemuwrap_ctl; echo \"${{COMPREPLY[@]}}\"")
    done = subprocess.run(["bash", "-c", script], env=ws.env(), cwd=ws.root,
                          capture_output=True, text=True, check=True)
    return done.stdout.split()


@pytest.mark.qemu
def test_bash_completion(ws: Workspace) -> None:
    assert complete(ws, "qemuwrap-ctl", "sh") == ["show"]
    assert complete(ws, "qemuwrap-ctl", "forget", "--d") == ["--device"]
    ws.wrapped(["-name", "alpha"])
    ws.wrapped(["-name", "beta"])
    assert complete(ws, "qemuwrap-ctl", "show", "al") == ["alpha"]
