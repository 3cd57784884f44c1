#!/usr/bin/env bash
# Installs the Debian packages that building and testing qvm need.
# Idempotent: runs apt-get update only when a package is missing.
set -euo pipefail
arch=${1:-x86_64}
pkgs=(build-essential pkg-config libabsl-dev libcapstone-dev libfdt-dev catch2
      cpio busybox-static qemu-system-x86 acpica-tools device-tree-compiler
      python3 xz-utils zstd lz4 bzip2 kmod)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "deps: all ${#pkgs[@]} packages present"
fi
