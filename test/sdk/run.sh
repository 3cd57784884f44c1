#!/usr/bin/env bash
# The vdev SDK as a customer meets it (issue: the vdev SDK):
#  - `make install` into a fresh prefix; build the out-of-tree example
#    (vdev/examples/wdt-ib700) with nothing but `pkg-config --cflags qvm-vdev`
#  - load it from QVM_VDEV_PATH with the INSTALLED qvm (which finds its own
#    plug-ins beside itself) and drive it from micro-guests;
#  - a plug-in built against the frozen ABI 1.0 header still works;
#  - the errors users hit: wrong major, no factory, duplicate factory name,
#    missing .so, unknown option, missing loc, overlapping regions.
# Prints `RESULT PASS|FAIL|SKIP native/sdk-<name> [why]`.
set -u
export QVM_RESMGR_DIR=${QVM_RESMGR_DIR:-$(mktemp -d /tmp/qvm-sdk.XXXXXX)}
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
# BUILD (default build): the tree whose qvm is installed and tested (the
# sanitizer run passes build/san, with SANITIZE in the environment so that
# `make install` installs that tree).
BUILD=${BUILD:-build}
work=$top/$BUILD/test-sdk
rm -rf "$work"
mkdir -p "$work/plugins" "$work/guests" "$work/logs"
prefix=$work/prefix

result() { echo "RESULT $1 native/sdk-$2${3:+ $3}"; }

if ! make -s install PREFIX="$prefix" >"$work/logs/install.log" 2>&1; then
  result FAIL install "make install failed ($BUILD/test-sdk/logs/install.log)"
  exit 0
fi
result PASS install
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
cflags=$(pkg-config --cflags qvm-vdev) || { result FAIL pkg-config "qvm-vdev.pc not usable"; exit 0; }
[ "$(pkg-config --modversion qvm-vdev)" = "$(sed -n 's/^#define QVM_VDEV_ABI_MAJOR //p' sdk/include/qvm/vdev.h).$(sed -n 's/^#define QVM_VDEV_ABI_MINOR //p' sdk/include/qvm/vdev.h)" ] \
  && result PASS pkg-config || result FAIL pkg-config "version differs from the header"

# The example, exactly as a customer builds it (no -I into this tree).
if cc -O2 -Wall -Wextra -Werror $cflags -shared -fPIC -o "$work/plugins/vdev-wdt-ib700.so" \
     vdev/examples/wdt-ib700/wdt_ib700.c 2>"$work/logs/example.log"; then
  result PASS example-build
else
  result FAIL example-build "$(head -n 3 "$work/logs/example.log" | tr '\n' ' ')"
fi
# Test plug-ins: one against the frozen 1.0 header, the others against the
# installed one.
cc -O2 -Wall -Wextra -Werror -Itest/sdk/abi-1.0 -shared -fPIC -o "$work/plugins/vdev-oldabi.so" test/sdk/plugins/oldabi.c
for p in newmajor nofactory dupe; do
  cc -O2 -Wall -Wextra -Werror $cflags -shared -fPIC -o "$work/plugins/vdev-$p.so" test/sdk/plugins/$p.c
done
for v in stop expire; do
  def=""; [ $v = stop ] && def=-DSTOP
  gcc -m32 -c $def -o "$work/guests/wdt-$v.o" test/sdk/guests/wdt.S &&
    ld -m elf_i386 -Ttext 0x100000 --oformat binary -o "$work/guests/wdt-$v.bin" "$work/guests/wdt-$v.o"
done

kvm_ok=1
if [ -x "$BUILD/bin/qvm-kvm-probe" ]; then "$BUILD/bin/qvm-kvm-probe" >/dev/null 2>&1 || kvm_ok=0; else kvm_ok=0; fi

# case NAME EXPECTED_RC MUST_CONTAIN CONFIG...   (CONFIG tokens go to qvm)
case_() {
  local name=$1 want=$2 needle=$3; shift 3
  local log=$work/logs/$name.log
  ( cd "$work/guests" && QVM_VDEV_PATH=$work/plugins timeout 30 "$prefix/bin/qvm" "$@" ) >"$log" 2>&1
  local rc=$?
  if [ "$rc" != "$want" ]; then result FAIL "$name" "exit $rc, expected $want: $(tail -n 2 "$log" | tr '\n' ' ')"
  elif [ -n "$needle" ] && ! grep -qF -- "$needle" "$log"; then result FAIL "$name" "output lacks \"$needle\": $(tail -n 2 "$log" | tr '\n' ' ')"
  else result PASS "$name"; fi
}
base=(system sdk ram 16M)
if [ $kvm_ok = 1 ]; then
  case_ wdt-stop 1 "" "${base[@]}" load 0x100000,wdt-stop.bin vdev debug-exit \
    vdev oldabi loc io:0x520 vdev wdt-ib700 action exit scale 20
  case_ wdt-expire 4 "watchdog expired" "${base[@]}" load 0x100000,wdt-expire.bin vdev debug-exit \
    vdev oldabi loc io:0x520 vdev wdt-ib700 action exit scale 20
else
  result SKIP wdt-stop "no usable /dev/kvm"
  result SKIP wdt-expire "no usable /dev/kvm"
fi
# Configuration-time checks need no KVM (dryrun builds everything).
case_ oldabi-dryrun 0 "oldabi" "${base[@]}" load 0x100000,wdt-stop.bin vdev oldabi loc io:0x520 dryrun
case_ wrong-major 65 "built for vdev ABI 2.0, this qvm provides 1." "${base[@]}" load 0x100000,wdt-stop.bin vdev newmajor
case_ no-factory 65 "registers no factory" "${base[@]}" load 0x100000,wdt-stop.bin vdev nofactory
case_ duplicate 65 "registers factory \`ser8250\`, already registered by" "${base[@]}" load 0x100000,wdt-stop.bin vdev ser8250 vdev dupe
case_ missing-so 65 "no plug-in vdev-nosuch.so (looked in $work/plugins/vdev-nosuch.so, $prefix/bin/../lib/qvm/vdev-nosuch.so" "${base[@]}" load 0x100000,wdt-stop.bin vdev nosuch
case_ unknown-option 65 "<command line>:9:1: vdev wdt-ib700: unknown option \`frobnicate\` (valid: loc, intr, name, action, scale)" "${base[@]}" load 0x100000,wdt-stop.bin vdev wdt-ib700 frobnicate 1
case_ bad-value 65 "vdev wdt-ib700: bad value \`sometimes\` for option \`action\`" "${base[@]}" load 0x100000,wdt-stop.bin vdev wdt-ib700 action sometimes
case_ missing-loc 65 "vdev oldabi: needs a \`loc\`" "${base[@]}" load 0x100000,wdt-stop.bin vdev oldabi
case_ overlap 65 "overlaps" "${base[@]}" load 0x100000,wdt-stop.bin vdev wdt-ib700 vdev oldabi loc io:0x440
exit 0
