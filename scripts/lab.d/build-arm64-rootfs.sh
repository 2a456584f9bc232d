#!/usr/bin/env bash
# Builds the lab's Pi-like board: Debian bookworm for arm64 (debootstrap + qemu-user-static), with python3,
# numpy and ai-edge-litert (pip, as on a real Pi) and an OpenSSH server. Usage: build-arm64-rootfs.sh ROOTFS LITERT_VERSION
# Run as root. Builds into ROOTFS.partial and renames it into place only when everything worked, so an
# interrupted build is never mistaken for a cached one.
set -euo pipefail
ROOTFS="$1"
LITERT_VERSION="$2"
PARTIAL="$ROOTFS.partial"
QEMU=/usr/bin/qemu-aarch64-static

rm -rf "$PARTIAL"
mkdir -p "$PARTIAL"
debootstrap --foreign --arch=arm64 --variant=minbase \
  --include=python3,python3-pip,python3-venv,openssh-server,openssh-sftp-server,ca-certificates,procps \
  bookworm "$PARTIAL" http://deb.debian.org/debian
# binfmt runs aarch64 programs through the interpreter path registered without the F flag,
# so that path must exist inside the chroot too.
install -D -m 0755 "$QEMU" "$PARTIAL$QEMU"
mkdir -p "$PARTIAL/usr/libexec/qemu-binfmt"
ln -sf ../../bin/qemu-aarch64-static "$PARTIAL/usr/libexec/qemu-binfmt/aarch64-binfmt-P"
chroot "$PARTIAL" /debootstrap/debootstrap --second-stage

# pip inside the chroot needs a resolver and the CA bundle; ssh sessions later need /proc and /dev.
cp /etc/resolv.conf "$PARTIAL/etc/resolv.conf"
cp -L /etc/ssl/certs/ca-certificates.crt "$PARTIAL/etc/ssl/certs/ca-certificates.crt"
mount -t proc proc "$PARTIAL/proc"
trap 'umount "$PARTIAL/proc" 2>/dev/null || true' EXIT
# A Pi user installs the runtime with pip; Debian's python is "externally managed", hence the flag.
# A clean environment: the host's PIP_* settings (local wheel folders, indexes) mean nothing inside the board.
IN_BOARD=(chroot "$PARTIAL" env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root LANG=C.UTF-8)
"${IN_BOARD[@]}" python3 -m pip install --quiet --disable-pip-version-check --break-system-packages \
  "ai-edge-litert==$LITERT_VERSION"
"${IN_BOARD[@]}" python3 -c "import platform, numpy, ai_edge_litert.interpreter; print(platform.machine(), numpy.__version__)"
umount "$PARTIAL/proc"
trap - EXIT
rm -f "$PARTIAL"/etc/ssh/ssh_host_*   # each `lab up` gives the board fresh host keys
rm -rf "$ROOTFS"
mv "$PARTIAL" "$ROOTFS"
