#!/usr/bin/env bash
# The QNX configuration corpus: every file of test/qnxcfg/configs/ through
# `qvm @FILE dryrun` (check.py). Usage: run.sh [x86_64|aarch64]
#   x86_64  (default) build/bin/qvm
#   aarch64 build/aarch64/bin/qvm under qemu-aarch64-static (SKIP without it)
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
arch=${1:-x86_64}
configs=(test/qnxcfg/configs/*.qvmconf)
if [ "$arch" = aarch64 ]; then
  if [ ! -x build/aarch64/bin/qvm ] || ! command -v qemu-aarch64-static >/dev/null; then
    for c in "${configs[@]}"; do
      grep -q '^# *arch: *aarch64' "$c" || continue
      echo "RESULT SKIP qnxcfg/$(basename "$c" .qvmconf) needs build/aarch64/bin/qvm and qemu-aarch64-static (make ARCH=aarch64)"
    done
    exit 0
  fi
  QVM_VDEV_DIR=build/aarch64/lib/qvm exec python3 test/qnxcfg/check.py \
    qemu-aarch64-static build/aarch64/bin/qvm -- aarch64 "${configs[@]}"
fi
exec python3 test/qnxcfg/check.py build/bin/qvm -- x86_64 "${configs[@]}"
