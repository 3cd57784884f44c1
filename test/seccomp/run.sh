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
# The device-thread cases use the test plug-in systhread.c (vdev ABI 1.8:
# the open runs on a thread the plug-in started with qvm_thread_create):
#   thread-undeclared  vdev-systhread.so declares no call: qvm must exit 7
#             naming openat and the thread systhread-w.
#   thread-declared    vdev-systhread-decl.so declares "openat" in
#             thread_syscalls: the guest passes (exit 1).
#   thread-off         the undeclared one with `set seccomp off`: passes.
#   thread-badname     a factory declaring `no_such_call`: refused at load
#             (exit 65, the message names the call).
# The spawner (vmm/spawner.h) and device threads under their filter, with
# the micro-guest blk-records on a 16-sector disk (it fills it, then waits
# for the power button) and `dump "|CMD"`:
#   dump-pipe  the main thread (/proc/PID/status) and virtio-blk's queue
#             worker blk-q0 run filtered (Seccomp: 2); SIGUSR2 writes a
#             dump through the command, which runs unfiltered (Seccomp: 0
#             in its own status) and receives an ELF core; SIGTERM then
#             powers the guest off (exit 0).
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
for v in systhread: systhread-decl:-DDECLARE systhread-bad:-DBADNAME; do
  if ! cc -O2 -Wall -Wextra -Werror -Isdk/include ${v#*:} -shared -fPIC -pthread \
       -o "$work/plugins/vdev-${v%%:*}.so" test/seccomp/systhread.c 2>"$work/logs/build.log"; then
    result FAIL plugin-build "$(head -n 3 "$work/logs/build.log" | tr '\n' ' ')"
    exit 0
  fi
done
for f in "$QVM" "$guest"; do
  [ -e "$f" ] || { result FAIL filtered "$f not built"; result FAIL off "$f not built"; exit 0; }
done
if ! "$top/$BUILD/bin/qvm-kvm-probe" >/dev/null 2>&1; then
  result SKIP filtered "no usable /dev/kvm"
  result SKIP off "no usable /dev/kvm"
  exit 0
fi

# run NAME [PLUGIN] EXTRA-CONFIG-TOKENS...: qvm's stdout in NAME.out,
# stderr in NAME.err; PLUGIN (default sysopen) serves port 0x530.
run() {
  local name=$1 dev=sysopen; shift
  case ${1:-} in systhread*) dev=$1; shift ;; esac
  QVM_VDEV_PATH=$work/plugins timeout 60 "$QVM" system mg-seccomp ram 16M \
    load "0x100000,$guest" vdev ioapic vdev ser8250 hostdev ">-" vdev debug-exit \
    vdev "$dev" loc io:0x530 "$@" >"$work/logs/$name.out" 2>"$work/logs/$name.err" </dev/null
}
sanitized=0

# passes NAME RC: the guest passed (exit 1) and nothing trapped.
passes() {
  if [ "$2" != 1 ]; then
    result FAIL "$1" "exit $2, expected 1: $(tail -n 2 "$work/logs/$1.err" | tr '\n' ' ')"
  elif ! grep -q "PASS seccomp-open" "$work/logs/$1.out" "$work/logs/$1.err"; then
    result FAIL "$1" "the guest did not pass"
  elif grep -q "internal error: system call" "$work/logs/$1.err"; then
    result FAIL "$1" "a system call trapped"
  else
    result PASS "$1"
  fi
}

run filtered
rc=$?
err=$work/logs/filtered.err
if grep -q "system-call filters off: a sanitizer build" "$work/logs/filtered.out" "$err"; then
  result SKIP filtered "a sanitizer build runs without system-call filters"
  sanitized=1
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
passes off $?

run thread-undeclared systhread
rc=$?
err=$work/logs/thread-undeclared.err
if [ $sanitized = 1 ]; then
  result SKIP thread-undeclared "a sanitizer build runs without system-call filters"
elif [ $rc != 7 ]; then
  result FAIL thread-undeclared "exit $rc, expected 7: $(tail -n 2 "$err" | tr '\n' ' ')"
elif ! grep -q "internal error: system call openat (.*on thread systhread-w " "$err"; then
  result FAIL thread-undeclared "stderr does not name openat on systhread-w: $(tail -n 2 "$err" | tr '\n' ' ')"
elif grep -q "PASS seccomp-open" "$work/logs/thread-undeclared.out" "$err"; then
  result FAIL thread-undeclared "the open went through"
else
  result PASS thread-undeclared
fi

run thread-declared systhread-decl
passes thread-declared $?

run thread-off systhread set seccomp off
passes thread-off $?

# dump-pipe (above)
dump_pipe() {
  local mg=$top/$BUILD/microguests out=$work/logs/dump-pipe.out pid i
  [ -e "$mg/blk-records.bin" ] || { result FAIL dump-pipe "$mg/blk-records.bin not built"; return; }
  dd if=/dev/zero of="$work/small.img" bs=512 count=16 2>/dev/null
  rm -f "$work/dump.core" "$work/dump.sec"
  "$QVM" @"$mg/blk-records.qvmconf" vdev virtio-blk hostdev "$work/small.img" \
    notify eventfd dump "|grep Seccomp: /proc/self/status >$work/dump.sec; cat >$work/dump.core" \
    >"$out" 2>&1 </dev/null &
  pid=$!
  for ((i = 0; i < 600; i++)); do
    grep -q '^BLK-FULL' "$out" && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.05
  done
  local main worker t
  main=$(awk '$1 == "Seccomp:" { print $2 }' /proc/$pid/status 2>/dev/null)
  for t in /proc/$pid/task/*; do
    [ "$(cat $t/comm 2>/dev/null)" = blk-q0 ] && worker=$(awk '$1 == "Seccomp:" { print $2 }' $t/status)
  done
  kill -USR2 $pid 2>/dev/null
  for ((i = 0; i < 600; i++)); do
    grep -q 'guest dump' "$out" && break
    sleep 0.05
  done
  kill -TERM $pid 2>/dev/null
  for ((i = 0; i < 600; i++)); do
    kill -0 $pid 2>/dev/null || break
    sleep 0.05
  done
  kill -KILL $pid 2>/dev/null
  wait $pid
  local rc=$?
  if ! grep -q '^BLK-FULL' "$out"; then
    result FAIL dump-pipe "the guest did not fill its disk: $(tail -n 2 "$out" | tr '\n' ' ')"
  elif [ $sanitized = 1 ]; then
    result SKIP dump-pipe "a sanitizer build runs without system-call filters"
  elif [ "$main" != 2 ]; then
    result FAIL dump-pipe "the main thread's Seccomp is '$main', expected 2 (filtered)"
  elif [ "${worker:-}" != 2 ]; then
    result FAIL dump-pipe "virtio-blk's worker blk-q0: Seccomp '${worker:-no such thread}', expected 2"
  elif ! grep -q 'guest dump: |' "$out"; then
    result FAIL dump-pipe "no dump: $(grep -m1 'dump' "$out")"
  elif [ "$(head -c 4 "$work/dump.core" 2>/dev/null | od -An -c | tr -d ' ')" != '177ELF' ]; then
    result FAIL dump-pipe "the command did not receive an ELF core"
  elif [ "$(awk '{ print $2 }' "$work/dump.sec" 2>/dev/null)" != 0 ]; then
    result FAIL dump-pipe "the command ran with Seccomp '$(cat "$work/dump.sec" 2>/dev/null)', expected 0"
  elif [ $rc != 0 ]; then
    result FAIL dump-pipe "exit $rc after SIGTERM, expected 0: $(tail -n 2 "$out" | tr '\n' ' ')"
  elif grep -q "internal error: system call" "$out"; then
    result FAIL dump-pipe "a system call trapped: $(grep -m1 'internal error' "$out")"
  else
    result PASS dump-pipe
  fi
}
dump_pipe

run thread-badname systhread-bad
rc=$?
err=$work/logs/thread-badname.err
if [ $rc != 65 ]; then
  result FAIL thread-badname "exit $rc, expected 65: $(tail -n 2 "$err" | tr '\n' ' ')"
elif ! grep -q "thread_syscalls: system call .no_such_call. is unknown" "$err"; then
  result FAIL thread-badname "the error does not name the call: $(tail -n 2 "$err" | tr '\n' ' ')"
else
  result PASS thread-badname
fi
exit 0
