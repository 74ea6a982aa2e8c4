#!/usr/bin/env bash
# QEMU 10.0 beside the system's 7.2, for the upgrade tests (tests/test_upgrade.py).
#
# Debian bookworm-backports has qemu-system-x86 10.0; its packages are unpacked
# into $QEMU10_DIR (default /opt/qemuwrap-test/qemu-10.0), not installed. The
# launcher runs it with its own firmware and, in a private mount namespace, its
# own loadable modules bound over 7.2's (10.0 refuses modules of another build).
# Needs root (apt, mount namespaces). Prints the launcher's path.
set -euo pipefail
dir=${QEMU10_DIR:-/opt/qemuwrap-test/qemu-10.0}
launcher=$dir/qemu-system-x86_64
if [ -x "$launcher" ] && [ -e "$dir/root/usr/lib/x86_64-linux-gnu/qemu/ui-opengl.so" ] &&
        "$launcher" -version 2>/dev/null | grep -q 'version 10\.0'; then
    echo "$launcher"; exit 0
fi
. /etc/os-release
[ "${VERSION_CODENAME:-}" = bookworm ] || { echo "setup-qemu10: needs Debian bookworm" >&2; exit 1; }
sources=/etc/apt/sources.list.d/qemuwrap-backports.sources
if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    cat > "$sources" <<SOURCES
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
fi
apt-get update -qq
download=$(mktemp -d)
chmod 755 "$download"
(cd "$download" && apt-get download -qq -t bookworm-backports \
    qemu-system-x86 qemu-system-data qemu-system-common qemu-system-modules-spice \
    qemu-system-modules-opengl)
rm -rf "$dir"
mkdir -p "$dir/root"
for deb in "$download"/*.deb; do dpkg -x "$deb" "$dir/root"; done
rm -rf "$download"
missing=$(for f in "$dir/root/usr/bin/qemu-system-x86_64" "$dir"/root/usr/lib/x86_64-linux-gnu/qemu/*.so; do
              ldd "$f" | grep 'not found' || true; done | sort -u)
if [ -n "$missing" ]; then
    echo "setup-qemu10: QEMU 10.0 needs libraries this machine lacks:" >&2
    echo "$missing" >&2
    exit 1
fi
cat > "$launcher" <<LAUNCHER
#!/bin/sh
# QEMU 10.0 unpacked in $dir: its firmware first, its modules over 7.2's. Same PID throughout.
exec unshare -m sh -c 'mount --bind "\$0/root/usr/lib/x86_64-linux-gnu/qemu" /usr/lib/x86_64-linux-gnu/qemu && exec "\$0/root/usr/bin/qemu-system-x86_64" -L "\$0/root/usr/share/qemu" -L /usr/share/qemu "\$@"' "$dir" "\$@"
LAUNCHER
chmod 755 "$launcher"
"$launcher" -version | grep -q 'version 10\.0'
echo "$launcher"
