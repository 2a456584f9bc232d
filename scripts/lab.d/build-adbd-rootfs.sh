#!/usr/bin/env bash
# Builds the lab's Android stand-in: a minimal Debian trixie (amd64) with Debian's `adbd` package, the real
# Android debug daemon, which bookworm does not ship. Usage: build-adbd-rootfs.sh ROOTFS. Run as root.
# Builds into ROOTFS.partial and renames it into place only when everything worked.
set -euo pipefail
ROOTFS="$1"
PARTIAL="$ROOTFS.partial"

rm -rf "$PARTIAL"
mkdir -p "$PARTIAL"
debootstrap --variant=minbase --include=adbd,procps trixie "$PARTIAL" http://deb.debian.org/debian
# Where Android keeps its scratch space; benchmark_model and models are pushed there.
mkdir -p "$PARTIAL/data/local/tmp"
chmod 1777 "$PARTIAL/data/local/tmp"
rm -rf "$ROOTFS"
mv "$PARTIAL" "$ROOTFS"
