#!/usr/bin/env bash
# Adds onnxruntime to the cached aarch64 board's system Python (beside ai-edge-litert, numpy 2), as a Pi user
# would with pip, so edgekit's device profiler can time .onnx models there. An add-on, not part of
# build-arm64-rootfs.sh: a rootfs cached before it existed gets it added. Usage: add-onnxruntime.sh ROOTFS
# ORT_VERSION. Run as root.
set -euo pipefail
ROOTFS="$1"
ORT_VERSION="$2"
# pip needs /proc; a private mount namespace makes it vanish with this command. A clean environment: the host's
# PIP_* settings (local wheel folders, indexes) mean nothing inside the board.
unshare --mount --propagation private sh -c '
  mount -t proc proc "$1/proc"
  chroot "$1" env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root LANG=C.UTF-8 sh -c "
    python3 -m pip install --quiet --disable-pip-version-check --break-system-packages onnxruntime==$2 &&
    python3 -c \"import onnxruntime, numpy, ai_edge_litert.interpreter; print(onnxruntime.__version__, numpy.__version__)\""
' sh "$ROOTFS" "$ORT_VERSION"
