#!/usr/bin/env bash
# Everything a fresh Debian machine lacks to run qemuwrap, its demo and its tests:
# QEMU 7.2 from Debian, and this project with its test extras (editable) in a virtual
# environment, .venv beside this folder: Debian's python3 is externally managed
# (PEP 668), so nothing is installed into it. Run the demo and the tests with
# .venv/bin/python3. With --tests, also what the tests use beyond QEMU 7.2: Debian's
# package tools (the .deb is built and installed), libvirt (run in a private mount
# namespace), AppArmor's parser (the libvirt snippet is checked), and QEMU 10.0
# unpacked beside 7.2 for the upgrade tests (as root).
set -euo pipefail
cd "$(dirname "$0")/.."
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
missing=()
command -v qemu-system-x86_64 >/dev/null && command -v qemu-img >/dev/null ||
    missing+=(qemu-system-x86 qemu-utils)
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
if [ "${1:-}" = --tests ]; then
    for package in build-essential debhelper dh-python pybuild-plugin-pyproject python3-all \
            python3-setuptools python3-psutil python3-tomli-w libvirt-daemon-system \
            libvirt-clients apparmor; do
        dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
    done
fi
if [ ${#missing[@]} -gt 0 ]; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
[ -x .venv/bin/python3 ] || python3 -m venv .venv
.venv/bin/python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'
if [ "${1:-}" = --tests ]; then
    as_root bash contrib/setup-qemu10.sh >/dev/null
fi
