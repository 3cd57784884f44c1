#!/usr/bin/env bash
# qvm's system-call filter (vmm/README.md, "System-call filter") seen from
# outside: the test plug-in sysopen.c (built here) opens /etc/hostname from
# its register write handler, i.e. on the vCPU thread, when the micro-guest
# seccomp-open (test/microguests/seccomp-open.s) writes it.
#   filtered  default configuration: qvm must exit 7 and its stderr must name
#             the call (`openat`: what open(3) calls on x86_64 and aarch64)
#             and the thread (vcpu0); the guest must not pass.
#   off       the same run with `set seccomp off`: the open succeeds, the
#             guest reads that back and passes (qvm exits 1).
# In a sanitizer build qvm runs without filters (it says so once): there
# `filtered` is a SKIP with that reason.
# Prints `RESULT PASS|FAIL|SKIP native/seccomp-<name> [why]`.
set -u
export QVM_RESMGR_DIR=${QVM_RESMGR_DIR:-$(mktemp -d /tmp/qvm-seccomp.XXXXXX)}
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
BUILD=${BUILD:-build}
QVM=${QVM_BIN:-$top/$BUILD/bin/qvm}
work=$top/$BUILD/test-seccomp
rm -rf "$work"
mkdir -p "$work/plugins" "$work/logs"

result() { echo "RESULT $1 native/seccomp-$2${3:+ $3}"; }

guest=$top/$BUILD/microguests/seccomp-open.bin
if ! cc -O2 -Wall -Wextra -Werror -Isdk/include -shared -fPIC -o "$work/plugins/vdev-sysopen.so" \
     test/seccomp/sysopen.c 2>"$work/logs/build.log"; then
  result FAIL plugin-build "$(head -n 3 "$work/logs/build.log" | tr '\n' ' ')"
  exit 0
fi
for f in "$QVM" "$guest"; do
  [ -e "$f" ] || { result FAIL filtered "$f not built"; result FAIL off "$f not built"; exit 0; }
done
if ! "$top/$BUILD/bin/qvm-kvm-probe" >/dev/null 2>&1; then
  result SKIP filtered "no usable /dev/kvm"
  result SKIP off "no usable /dev/kvm"
  exit 0
fi

# run NAME EXTRA-CONFIG-TOKENS...: qvm's stdout in NAME.out, stderr in NAME.err.
run() {
  local name=$1; shift
  QVM_VDEV_PATH=$work/plugins timeout 60 "$QVM" system mg-seccomp ram 16M \
    load "0x100000,$guest" vdev ioapic vdev ser8250 hostdev ">-" vdev debug-exit \
    vdev sysopen loc io:0x530 "$@" >"$work/logs/$name.out" 2>"$work/logs/$name.err" </dev/null
}

run filtered
rc=$?
err=$work/logs/filtered.err
if grep -q "system-call filters off: a sanitizer build" "$work/logs/filtered.out" "$err"; then
  result SKIP filtered "a sanitizer build runs without system-call filters"
elif [ $rc != 7 ]; then
  result FAIL filtered "exit $rc, expected 7: $(tail -n 2 "$err" | tr '\n' ' ')"
elif ! grep -q "internal error: system call openat (.*on thread vcpu0 " "$err"; then
  result FAIL filtered "stderr does not name openat on vcpu0: $(tail -n 2 "$err" | tr '\n' ' ')"
elif grep -q "PASS seccomp-open\|open(/etc/hostname) succeeded" "$work/logs/filtered.out" "$err"; then
  result FAIL filtered "the open went through"
else
  result PASS filtered
fi

run off set seccomp off
rc=$?
if [ $rc != 1 ]; then
  result FAIL off "exit $rc, expected 1: $(tail -n 2 "$work/logs/off.err" | tr '\n' ' ')"
elif ! grep -q "PASS seccomp-open" "$work/logs/off.out" "$work/logs/off.err"; then
  result FAIL off "the guest did not pass"
elif grep -q "internal error: system call" "$work/logs/off.err"; then
  result FAIL off "a system call trapped with the filter off"
else
  result PASS off
fi
exit 0
