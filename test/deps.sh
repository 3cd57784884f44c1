#!/usr/bin/env bash
# Installs the Debian packages that building and testing qvm need.
# Idempotent: runs apt-get update only when a package is missing.
set -euo pipefail
arch=${1:-x86_64}
need_update=""
pkgs=(build-essential pkg-config libabsl-dev libcapstone-dev libfdt-dev catch2
      cpio busybox-static qemu-system-x86 acpica-tools device-tree-compiler
      python3 xz-utils zstd lz4 bzip2 kmod
      gcc-12 libelf1 libssl3 zlib1g   # the shmem guest module's kbuild: the kernel's compiler, linux-kbuild's programs (vdev/shmem/linux)
      gdb-multiarch   # reads guest dumps of both architectures (dump_test.cc, control/run.sh), debugs through the stub (gdb/run.sh)
      # the fuzzers (test/fuzz: clang with libFuzzer and its sanitizer
      # runtimes) and symbolized sanitizer reports (llvm-symbolizer)
      clang libclang-rt-14-dev llvm)
if [[ $arch == aarch64 ]]; then
  # Cross toolchain, arm64 multiarch -dev packages, QEMU for the lane and
  # for running the cross-built tests (test/lanes/aarch64/README.md).
  pkgs+=(gcc-aarch64-linux-gnu g++-aarch64-linux-gnu libc6-dev-arm64-cross
         qemu-system-arm qemu-user-static
         libabsl-dev:arm64 libcapstone-dev:arm64)
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    echo "deps: adding the arm64 architecture (multiarch)"
    dpkg --add-architecture arm64
    need_update=1
  fi
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  need_update=""
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "deps: all ${#pkgs[@]} packages present"
fi
if [[ -n $need_update ]]; then apt-get update -qq; fi
if [[ $arch == aarch64 ]]; then
  # libfdt-dev is not Multi-Arch: same (installing :arm64 removes the native
  # one): unpack the arm64 package into build/aarch64/sysroot instead.
  top=$(cd "$(dirname "$0")/.." && pwd)
  sysroot=$top/build/aarch64/sysroot
  if [[ ! -f $sysroot/usr/lib/aarch64-linux-gnu/libfdt.a ]]; then
    mkdir -p "$sysroot/debs"
    (cd "$sysroot/debs" && apt-get download -q libfdt-dev:arm64 2>&1 | grep -v unsandboxed || true)
    deb=$(ls "$sysroot"/debs/libfdt-dev_*_arm64.deb | sort -V | tail -n1)
    dpkg -x "$deb" "$sysroot"
    echo "deps: unpacked $(basename "$deb") into $sysroot"
  fi
fi
