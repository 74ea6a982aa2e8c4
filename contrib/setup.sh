#!/usr/bin/env bash
# Everything a fresh Debian machine lacks to run qemuwrap, its demo and its tests:
# QEMU 7.2 from Debian, and this project with its test extras (editable).
# With --tests, also QEMU 10.0 unpacked beside it for the upgrade tests (as root).
set -euo pipefail
cd "$(dirname "$0")/.."
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v qemu-system-x86_64 >/dev/null || ! command -v qemu-img >/dev/null; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-system-x86 qemu-utils >/dev/null
fi
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -e '.[test]'
if [ "${1:-}" = --tests ]; then
    as_root bash contrib/setup-qemu10.sh >/dev/null
fi
