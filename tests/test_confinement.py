"""The AppArmor rules qemuwrap needs under libvirt (contrib/libvirt/apparmor-qemuwrap) fit
the profile libvirt gives each domain: appended to the local abstraction it includes,
libvirt's own template parses (apparmor_parser, no kernel needed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from conftest import ROOT

SNIPPET = ROOT / "contrib" / "libvirt" / "apparmor-qemuwrap"


def parse_template(base: Path, rules: str) -> subprocess.CompletedProcess[str]:
    """Parse libvirt's domain template with RULES added where an admin adds them."""
    shutil.rmtree(base, ignore_errors=True)
    shutil.copytree("/etc/apparmor.d", base, symlinks=True)
    local = base / "local" / "abstractions" / "libvirt-qemu"
    local.write_text(local.read_text() + rules)
    return subprocess.run(["apparmor_parser", "--skip-kernel-load", "--skip-cache", "-Q",
                           "--base", str(base), str(base / "libvirt" / "TEMPLATE.qemu")],
                          capture_output=True, text=True, check=False)


def test_the_apparmor_rules_fit_libvirts_domain_profile(tmp_path: Path) -> None:
    rules = SNIPPET.read_text()
    done = parse_template(tmp_path / "apparmor.d", rules)
    assert done.returncode == 0, done.stderr
    assert "/var/lib/qemuwrap/** rwlk," in rules and "/usr/bin/qemu-system-x86_64 rmix," in rules
    broken = parse_template(tmp_path / "apparmor.d", rules + "  /var/lib/qemuwrap/x rwz,\n")
    assert broken.returncode != 0, "the parser does check the rules"
