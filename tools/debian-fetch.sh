#!/usr/bin/env bash
# Fetches Debian's cloud kernel and busybox-static for one architecture and
# unpacks them, cached:  tools/debian-fetch.sh ARCH DOWNLOADS-DIR
#   ARCH: x86_64 or aarch64.  Result (stable paths used by the buildfiles):
#   DIR/ARCH/vmlinuz                 the kernel (host and guest)
#   DIR/ARCH/modules/                lib/modules/<version>/ of that kernel
#   DIR/ARCH/busybox/bin/busybox     busybox-static
#   DIR/ARCH/kernel-version          e.g. 6.1.0-56-cloud-amd64
#   DIR/ARCH/kheaders                x86_64 only: that kernel's build tree
#                                    (linux-headers-<version>, its -common
#                                    and linux-kbuild-<series>, unpacked in
#                                    one root) for out-of-tree modules:
#                                    make -C DIR/ARCH/kheaders M=...
# The kernel package is resolved from the meta-package
# linux-image-cloud-<debarch> (apt-cache depends); .deb files are kept in DIR
# and a second run downloads nothing. Without apt metadata it runs
# `apt-get update` once; offline it falls back to a cached .deb.
set -euo pipefail
arch=${1:?usage: debian-fetch.sh ARCH DIR}
dl=${2:?usage: debian-fetch.sh ARCH DIR}
case "$arch" in
  x86_64) debarch=amd64 ;;
  aarch64) debarch=arm64 ;;
  *) echo "debian-fetch: unknown arch $arch" >&2; exit 2 ;;
esac
native=$(dpkg --print-architecture)
suffix=""; [[ $debarch != "$native" ]] && suffix=":$debarch"
mkdir -p "$dl/$arch"
dl=$(cd "$dl" && pwd)
out=$dl/$arch

resolve_kernel() {
  apt-cache depends "linux-image-cloud-$debarch$suffix" 2>/dev/null |
    sed -n 's/^ *Depends: \(linux-image-[0-9][^ :]*-cloud-'"$debarch"'\).*/\1/p' | head -n1
}

kpkg=$(resolve_kernel || true)
if [[ -z $kpkg ]]; then
  echo "debian-fetch: apt knows no linux-image-cloud-$debarch$suffix; running apt-get update" >&2
  apt-get update -qq >&2 || true
  kpkg=$(resolve_kernel || true)
fi
if [[ -z $kpkg ]]; then  # offline: newest cached kernel package
  cached=$(ls "$dl"/linux-image-*-cloud-"$debarch"_*_"$debarch".deb 2>/dev/null | sort -V | tail -n1 || true)
  [[ -n $cached ]] || { echo "debian-fetch: cannot resolve linux-image-cloud-$debarch and nothing is cached" >&2; exit 1; }
  kpkg=$(basename "$cached"); kpkg=${kpkg%%_*}
  echo "debian-fetch: offline, using cached $kpkg" >&2
fi

# fetch PKG [VERSION]: echo the path of its cached .deb (of that version
# when given), downloading it when absent.
fetch() {
  local pkg=$1 ver=${2:-*} deb
  deb=$(ls "$dl/${pkg}"_${ver}_"$debarch".deb "$dl/${pkg}"_${ver}_all.deb 2>/dev/null | sort -V | tail -n1 || true)
  if [[ -z $deb ]]; then
    echo "debian-fetch: downloading $pkg ($debarch)" >&2
    (cd "$dl" && apt-get download -q "$pkg$suffix${2:+=$2}" >&2 2> >(grep -v 'unsandboxed' >&2))
    deb=$(ls "$dl/${pkg}"_${ver}_"$debarch".deb "$dl/${pkg}"_${ver}_all.deb 2>/dev/null | sort -V | tail -n1 || true)
    [[ -n $deb ]] || { echo "debian-fetch: apt-get download $pkg$suffix produced no .deb" >&2; exit 1; }
  fi
  echo "$deb"
}

# unpack DEB DIR: dpkg -x into DIR unless DIR already holds this .deb.
unpack() {
  local deb=$1 dir=$2
  if [[ -f $dir/.from && $(cat "$dir/.from") == "$(basename "$deb")" ]]; then return; fi
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
  dpkg -x "$deb" "$dir.tmp"
  basename "$deb" > "$dir.tmp/.from"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
}

kdeb=$(fetch "$kpkg")
bdeb=$(fetch busybox-static)
unpack "$kdeb" "$out/kernel-pkg"
unpack "$bdeb" "$out/busybox"

kver=${kpkg#linux-image-}
[[ -f $out/kernel-pkg/boot/vmlinuz-$kver ]] || { echo "debian-fetch: $kdeb has no boot/vmlinuz-$kver" >&2; exit 1; }
[[ -x $out/busybox/bin/busybox ]] || { echo "debian-fetch: $bdeb has no bin/busybox" >&2; exit 1; }
# Stable names; touched only when they change so that make sees no news.
ln -sfn "kernel-pkg/boot/vmlinuz-$kver" "$out/vmlinuz.new" && mv -T "$out/vmlinuz.new" "$out/vmlinuz"
ln -sfn "kernel-pkg/lib/modules/$kver" "$out/modules.new" && mv -T "$out/modules.new" "$out/modules"
if [[ ! -f $out/kernel-version || $(cat "$out/kernel-version") != "$kver" ]]; then
  echo "$kver" > "$out/kernel-version"
fi

# The kernel's headers (x86_64): the guest's own modules (vdev/shmem/linux)
# are built against them. Three packages from the same archive as the
# kernel, unpacked into one root so that their relative links (scripts,
# tools -> the kbuild package) resolve; the flavour's Makefile includes the
# common tree's by absolute path (/usr/src/...), made relative here (make
# -C runs in the flavour's directory). linux-kbuild holds programs for the
# build machine (fixdep, modpost): an arm64 tree would need the amd64 one,
# so only x86_64 gets headers for now.
if [[ $arch == x86_64 ]]; then
  series=$(echo "$kver" | sed -n 's/^\([0-9]*\.[0-9]*\)\..*/\1/p')   # 6.1
  abi=${kver%-cloud-$debarch}                                         # 6.1.0-57
  [[ -n $series && $abi != "$kver" ]] || { echo "debian-fetch: cannot derive the headers' names from $kver" >&2; exit 1; }
  # the same source version as the kernel package (linux-kbuild-<series>
  # spans several kernels: an older cached one is not taken)
  kdver=$(basename "$kdeb" | cut -d_ -f2)
  hdebs=()
  for p in "linux-headers-$kver" "linux-headers-$abi-common" "linux-kbuild-$series"; do
    d=$(fetch "$p" "$kdver")
    hdebs+=("$d")
  done
  stamp=$(for d in "${hdebs[@]}"; do basename "$d"; done | tr '\n' ' ')
  if [[ ! -f $out/headers/.from || $(cat "$out/headers/.from") != "$stamp" ]]; then
    rm -rf "$out/headers.tmp" && mkdir -p "$out/headers.tmp"
    for d in "${hdebs[@]}"; do dpkg -x "$d" "$out/headers.tmp"; done
    mk=$out/headers.tmp/usr/src/linux-headers-$kver/Makefile
    [[ -f $mk ]] || { echo "debian-fetch: linux-headers-$kver has no Makefile" >&2; exit 1; }
    sed -i "s|^include /usr/src/|include ../|" "$mk"
    echo "$stamp" >"$out/headers.tmp/.from"
    rm -rf "$out/headers" && mv "$out/headers.tmp" "$out/headers"
  fi
  ln -sfn "headers/usr/src/linux-headers-$kver" "$out/kheaders.new" && mv -T "$out/kheaders.new" "$out/kheaders"
fi
