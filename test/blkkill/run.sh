#!/usr/bin/env bash
# No data lost on virtio-blk, natively (/dev/kvm): test/blkkill/blk-kill.sh
# with the micro-guest blk-records, SIGKILLs and SIGTERMs at random
# moments (the seed is printed; BLK_KILL_SEED=S reruns it), the queue
# served by virtio-blk's worker threads (notify eventfd: 50 and 10) and on the
# vCPU thread (notify exit: 20 and 5). The x86_64 lane runs the same script
# (test/lanes/x86_64/lane.sh, blk-kill).
# Prints `RESULT PASS|FAIL|SKIP native/blk-kill-<notify>-<kill|term> [why]`.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
BUILD=${BUILD:-build}
QVM=${QVM_BIN:-$top/$BUILD/bin/qvm}
export QVM_RESMGR_DIR=${QVM_RESMGR_DIR:-$(mktemp -d /tmp/qvm-blkkill.XXXXXX)}
work=$top/$BUILD/test-blkkill
rm -rf "$work"
mkdir -p "$work"
mg=$top/$BUILD/microguests
for n in eventfd exit; do
  for f in "$QVM" "$mg/blk-records.bin" "$mg/blk-records.qvmconf"; do
    [ -e "$f" ] || { echo "RESULT FAIL native/blk-kill-$n-kill $f not built"; echo "RESULT FAIL native/blk-kill-$n-term $f not built"; continue 2; }
  done
  if ! "$top/$BUILD/bin/qvm-kvm-probe" >/dev/null 2>&1; then
    echo "RESULT SKIP native/blk-kill-$n-kill no usable /dev/kvm"
    echo "RESULT SKIP native/blk-kill-$n-term no usable /dev/kvm"
    continue
  fi
  # 50 SIGKILLs and 10 SIGTERMs on the workers; 20 and 5 on the vCPU path
  if [ $n = eventfd ]; then counts="50 10"; else counts="20 5"; fi
  sh test/blkkill/blk-kill.sh "$QVM" "$mg" "$work/$n" $counts 300 $n >"$work/$n.log" 2>&1
  grep '^BLKKILL \(SEED\|FIGURES\)' "$work/$n.log"
  for mode in kill term; do
    if grep -q "^BLKKILL PASS $mode " "$work/$n.log"; then
      echo "RESULT PASS native/blk-kill-$n-$mode"
    else
      why=$(grep -m1 "^BLKKILL FAIL $mode" "$work/$n.log" | cut -c1-200)
      echo "RESULT FAIL native/blk-kill-$n-$mode ${why:-no verdict (see $work/$n.log)} ($(grep -m1 SEED "$work/$n.log"))"
    fi
  done
done
exit 0
