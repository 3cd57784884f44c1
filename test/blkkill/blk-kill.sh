#!/bin/sh
# No data lost on virtio-blk (POSIX sh; busybox in the x86_64 lane, bash or
# dash natively): the micro-guest blk-records (test/microguests/blk-records.s)
# writes numbered 512-byte records and flushes each, reporting
# "BLK-WROTE n ok" and "BLK-SYNCED n ok" on its console.
#   kill  KILLS times: qvm started on a fresh disk, SIGKILLed at a random
#         moment after the guest's first synced record; every record the
#         console reported synced must be intact in the file.
#   term  TERMS times: SIGTERM at a random moment instead (the power
#         button: the guest powers off between two records, qvm exits 0
#         after its clean shutdown); every record reported written (not
#         necessarily flushed) must be intact.
# The moments are a random delay of 0..MAXMS ms after the first synced
# record, from a linear congruential generator seeded with SEED (printed:
# BLK_KILL_SEED=S reruns the same delays).
#   blk-kill.sh QVM MG_DIR WORK [KILLS TERMS MAXMS NOTIFY]
# MG_DIR holds blk-records.bin and .qvmconf (qvm's stdout, the guest's
# console, and its stderr go to separate files: log lines would split
# console lines); NOTIFY is virtio-blk's
# `notify` (auto, eventfd, exit). Prints "BLKKILL SEED s", one
# "BLKKILL FAIL kill|term ITERATION detail" per failure, "BLKKILL FIGURES
# ..." and "BLKKILL PASS|FAIL kill|term N" per phase; exit 0 iff both pass.
set -u
QVM=$1 MG=$2 WORK=$3
KILLS=${4:-50} TERMS=${5:-10} MAXMS=${6:-500} NOTIFY=${7:-auto}
seed=${BLK_KILL_SEED:-$(( $(date +%s) % 1000000 ))}
echo "BLKKILL SEED $seed"
mkdir -p "$WORK"
disk=$WORK/disk.img out=$WORK/qvm.out err=$WORK/qvm.err exp=$WORK/expected got=$WORK/got

rand() { seed=$(( (seed * 1103515245 + 12345) % 2147483648 )); r=$(( seed / 65536 % ($1 + 1) )); }
ms_sleep() { sleep "$(( $1 / 1000 )).$(printf %03d $(( $1 % 1000 )))"; }

# last_ok WORD: the highest n of a whole "BLK-WORD n ok" line (0: none)
last_ok() {
  n=$(sed -n "s/^BLK-$1 \([0-9]*\) ok\$/\1/p" "$out" | tail -n 1)
  echo "${n:-0}"
}

# intact N: records 1..N are in the disk as the guest wrote them; sets
# WHY otherwise (the first bad record)
intact() {
  WHY=
  [ "$1" -gt 0 ] || return 0
  awk -v last="$1" 'BEGIN {
    a = "abcdefghijklmnopqrstuvwxyz"
    for (i = 0; i < 26; i++) { s = substr(a, i + 1, 1); while (length(s) < 498) s = s s; L[i] = substr(s, 1, 498) }
    for (n = 1; n <= last; n++) printf "REC %08d %s\n", n, L[n % 26]
  }' >"$exp"
  dd if="$disk" of="$got" bs=512 skip=1 count="$1" 2>/dev/null
  if ! cmp -s "$exp" "$got"; then
    off=$(cmp "$exp" "$got" 2>&1 | sed -n 's/.* byte \([0-9]*\).*/\1/p' | head -n 1)
    WHY="record $(( (${off:-1} - 1) / 512 + 1 )) of $1 differs"
    return 1
  fi
}

# one MODE I: a fresh disk, qvm until the first synced record, a random
# delay, the signal; sets RC, N (the records to check), FAILED
one() {
  rm -f "$disk" "$out" "$err"
  dd if=/dev/zero of="$disk" bs=1048576 count=0 seek=16 2>/dev/null
  "$QVM" @"$MG/blk-records.qvmconf" vdev virtio-blk hostdev "$disk" notify "$NOTIFY" \
    >"$out" 2>"$err" </dev/null &
  pid=$!
  i=0
  while ! grep -q '^BLK-SYNCED 1 ok$' "$out" 2>/dev/null && [ $i -lt 1200 ] && kill -0 $pid 2>/dev/null; do
    sleep 0.05; i=$((i + 1))
  done
  rand "$MAXMS"
  ms_sleep $r
  if [ "$1" = kill ]; then kill -KILL $pid 2>/dev/null; else kill -TERM $pid 2>/dev/null; fi
  # a clean shutdown is bounded by the guest's next record; the last
  # resort (a hung qvm) is reported, not waited for
  i=0
  while kill -0 $pid 2>/dev/null && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
  kill -0 $pid 2>/dev/null && kill -KILL $pid 2>/dev/null
  wait $pid
  RC=$?
  FAILED=
  if [ "$1" = kill ]; then
    N=$(last_ok SYNCED)
    if [ "$RC" != 137 ]; then FAILED="qvm exit $RC, expected SIGKILL (137)"
    elif [ "$N" = 0 ]; then FAILED="no synced record on the console"
    elif ! intact "$N"; then FAILED="after SIGKILL ($r ms after the first sync, $N synced): $WHY"
    fi
  else
    N=$(last_ok WROTE)
    if [ "$RC" != 0 ]; then FAILED="qvm exit $RC after SIGTERM, expected 0 (guest powered off)"
    elif ! grep -q '^BLK-POWEROFF ' "$out"; then FAILED="the guest did not see the power button"
    elif [ "$N" = 0 ]; then FAILED="no written record on the console"
    elif ! intact "$N"; then FAILED="after SIGTERM ($r ms after the first sync, $N written): $WHY"
    fi
  fi
}

status=0
for mode in kill term; do
  if [ $mode = kill ]; then count=$KILLS; else count=$TERMS; fi
  bad=0 total=0 min= max=0 k=1
  while [ $k -le $count ]; do
    one $mode
    if [ -n "$FAILED" ]; then
      bad=$((bad + 1))
      echo "BLKKILL FAIL $mode $k $FAILED"
      tail -n 3 "$out" | sed 's/^/  | /'
      tail -n 3 "$err" | sed 's/^/  ! /'
    fi
    total=$((total + N))
    [ -z "$min" ] || [ "$N" -lt "$min" ] && min=$N
    [ "$N" -gt "$max" ] && max=$N
    k=$((k + 1))
  done
  echo "BLKKILL FIGURES $mode: $count runs, records checked per run min ${min:-0} max $max total $total"
  if [ $bad = 0 ]; then echo "BLKKILL PASS $mode $count"; else echo "BLKKILL FAIL $mode $bad of $count runs"; status=1; fi
done
exit $status
