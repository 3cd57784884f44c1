#!/usr/bin/env bash
# QNX's `delayed` on the UARTs (vdev/libuart/uart_hostdev.h) through qvm,
# with its system-call filters on: the micro-guest hostile-uart
# (test/microguests/hostile-uart.s: 4096 lines to COM1, line k all
# 'A' + k % 26) behind `vdev ser8250 hostdev >FIFO delayed 30`.
#   uart-fifo  the FIFO's reader is waiting before qvm starts: at the
#              guest's first access the opener thread (under the worker
#              filter, `openat` declared) opens it at its first try; the
#              guest passes (exit 1), the log says "opened after the
#              guest's first access (1 try)",
#              nothing trapped, and the guest's last line (line 4095: all
#              'N') and its verdict (`PASS hostile-uart`) reach the FIFO.
# The retry, give-up and TERMINATE paths are in test/vdev (ser8250, pl011).
# virtio-blk's `delayed` is tested through the fake guest only
# (test/virtio/blk_test.cc): through qvm, whether a guest reads the
# capacity before or after the opener published it depends on timing
# (vdev/virtio-blk/README.md), which a native row cannot make
# deterministic.
# Prints `RESULT PASS|FAIL|SKIP native/delayed-<name> [why]`.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
BUILD=${BUILD:-build}
QVM=${QVM_BIN:-$top/$BUILD/bin/qvm}
mg=$top/$BUILD/microguests
work=$(mktemp -d /tmp/qvm-delayed.XXXXXX)
export QVM_RESMGR_DIR=$work
trap 'rm -rf "$work"' EXIT
result() { echo "RESULT $1 native/delayed-$2${3:+ $3}"; }

for f in "$QVM" "$mg/hostile-uart.bin"; do
  [ -e "$f" ] || { result FAIL uart-fifo "$f not built"; exit 0; }
done
if ! "$top/$BUILD/bin/qvm-kvm-probe" >/dev/null 2>&1; then
  result SKIP uart-fifo "no usable /dev/kvm"
  exit 0
fi
mkfifo "$work/fifo"
# A reader blocked in open(2) already counts: the UART's non-blocking
# write-only open succeeds at once. (Whether a reader that comes later is
# waited for depends on how fast the guest writes: test/vdev has that.)
cat "$work/fifo" >"$work/fifo.out" &
reader=$!
timeout -s KILL 120 "$QVM" system mg-delayed ram 16M load "0x100000,$mg/hostile-uart.bin" \
  unsupported ignore vdev ioapic vdev ser8250 hostdev ">$work/fifo" delayed 30 \
  vdev debug-exit >"$work/qvm.log" 2>&1 </dev/null
rc=$?
# cat ends at the FIFO's EOF (qvm closed it); a reader that never got a
# writer is ended here.
for ((i = 0; i < 100; i++)); do kill -0 $reader 2>/dev/null || break; sleep 0.1; done
kill $reader 2>/dev/null
wait $reader 2>/dev/null
last=$(grep -v 'hostile-uart' "$work/fifo.out" 2>/dev/null | tail -n 1 | tr -d '\r')
if [ $rc != 1 ]; then
  result FAIL uart-fifo "exit $rc, expected 1: $(grep -v '^[A-Z]*$' "$work/qvm.log" | tail -n 2 | tr '\n' ' ')"
elif grep -q "internal error" "$work/qvm.log"; then
  result FAIL uart-fifo "$(grep -m1 'internal error' "$work/qvm.log")"
elif ! grep -q "delayed: hostdev >$work/fifo opened after the guest's first access (1 try)" "$work/qvm.log"; then
  result FAIL uart-fifo "no 'opened after the guest's first access (1 try)' line: $(grep -m1 delayed "$work/qvm.log")"
elif ! grep -q '^PASS hostile-uart' "$work/fifo.out"; then
  result FAIL uart-fifo "no PASS line in the FIFO's output"
elif ! [[ $last =~ ^N+$ ]]; then
  result FAIL uart-fifo "the FIFO's last line is '${last:0:40}', expected all N"
else
  result PASS uart-fifo
fi

exit 0
