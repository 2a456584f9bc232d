#!/usr/bin/env bash
# Adds to the cached aarch64 board a second Python environment the way older boards have it:
# tflite-runtime 2.14 with numpy<2 in /opt/tflite-runtime. edgekit's device profiler must work with both
# that and ai-edge-litert with numpy 2. Usage: add-tflite-runtime.sh ROOTFS. Run as root.
set -euo pipefail
ROOTFS="$1"
rm -rf "$ROOTFS/opt/tflite-runtime"
# pip needs /proc; a private mount namespace makes it vanish with this command.
unshare --mount --propagation private sh -c '
  mount -t proc proc "$1/proc"
  chroot "$1" env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root LANG=C.UTF-8 sh -c "
    python3 -m venv /opt/tflite-runtime &&
    /opt/tflite-runtime/bin/pip install --quiet --disable-pip-version-check tflite-runtime==2.14.0 \"numpy<2\" &&
    /opt/tflite-runtime/bin/python -c \"import tflite_runtime.interpreter, numpy; print(numpy.__version__)\""
' sh "$ROOTFS" || { rm -rf "$ROOTFS/opt/tflite-runtime"; exit 1; }
