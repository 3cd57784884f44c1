#!/usr/bin/env bash
# QNX's `delayed` on the UARTs (vdev/libuart/uart_hostdev.h) and virtio-blk
# (vdev/virtio-blk/README.md) through qvm,
# with its system-call filters on: the micro-guest hostile-uart
# (test/microguests/hostile-uart.s: 4096 lines to COM1, line k all
# 'A' + k % 26) behind `vdev ser8250 hostdev >FIFO delayed 30`.
#   uart-fifo  the FIFO's reader starts 1 s after qvm: the opener thread
#              (under the worker filter, `openat` declared) retries while
#              the FIFO has no reader, then opens it; the guest passes (exit
#              1), the log says "opened after the guest's first access",
#              nothing trapped, and the guest's last line (line 4095: all
#              'N') and its verdict (`PASS hostile-uart`) reach the FIFO.
#   blk        `vdev virtio-blk hostdev IMG delayed 30` under the micro-guest
#              blk-records (test/microguests/blk-records.s): the image is
#              opened by virtio-blk's opener thread (`openat` declared) at
#              the guest's first access, "(1 try): 16 sectors"; the guest
#              then fills it (BLK-FULL 15, records on the image), SIGTERM
#              powers it off (exit 0), nothing trapped.
# The retry, give-up and TERMINATE paths are in test/vdev (ser8250, pl011)
# and test/virtio/blk_test.cc.
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

for f in "$QVM" "$mg/hostile-uart.bin" "$mg/blk-records.bin"; do
  [ -e "$f" ] || { result FAIL uart-fifo "$f not built"; result FAIL blk "$f not built"; exit 0; }
done
if ! "$top/$BUILD/bin/qvm-kvm-probe" >/dev/null 2>&1; then
  result SKIP uart-fifo "no usable /dev/kvm"
  result SKIP blk "no usable /dev/kvm"
  exit 0
fi
mkfifo "$work/fifo"
(sleep 1; exec cat "$work/fifo" >"$work/fifo.out") &
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
elif ! grep -q "delayed: hostdev >$work/fifo opened after the guest's first access" "$work/qvm.log"; then
  result FAIL uart-fifo "no 'opened after the guest's first access' line"
elif ! grep -q '^PASS hostile-uart' "$work/fifo.out"; then
  result FAIL uart-fifo "no PASS line in the FIFO's output"
elif ! [[ $last =~ ^N+$ ]]; then
  result FAIL uart-fifo "the FIFO's last line is '${last:0:40}', expected all N"
else
  result PASS uart-fifo
fi

blk() {
  [ -e "$mg/blk-records.qvmconf" ] || { result FAIL blk "$mg/blk-records.qvmconf not built"; return; }
  local out=$work/blk.log pid i
  dd if=/dev/zero of="$work/blk.img" bs=512 count=16 2>/dev/null
  : >"$out"
  "$QVM" @"$mg/blk-records.qvmconf" vdev virtio-blk hostdev "$work/blk.img" delayed 30 \
    >"$out" 2>&1 </dev/null &
  pid=$!
  for ((i = 0; i < 1200; i++)); do
    grep -q '^BLK-FULL' "$out" && break
    kill -0 $pid 2>/dev/null || break
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
  if ! grep -q "delayed: hostdev $work/blk.img opened after the guest's first access (1 try): 16 sectors" "$out"; then
    result FAIL blk "no 'opened after the guest's first access' line: $(grep -m1 'virtio-blk' "$out")"
  elif ! grep -q '^BLK-FULL 15' "$out"; then
    result FAIL blk "the guest did not fill the disk: $(tail -n 2 "$out" | tr '\n' ' ')"
  elif [ "$(od -An -c -j 512 -N 4 "$work/blk.img" | tr -d ' ')" = '\0\0\0\0' ]; then
    result FAIL blk "no record on the image"
  elif [ $rc != 0 ]; then
    result FAIL blk "exit $rc after SIGTERM, expected 0"
  elif grep -q "internal error" "$out"; then
    result FAIL blk "$(grep -m1 'internal error' "$out")"
  else
    result PASS blk
  fi
}
blk
exit 0
