#!/usr/bin/env bash
# QNX's `user UID[:GID[,GID...]]` (vmm/privileges.h) seen from outside: qvm
# started as root with `user 65534:65534` runs the micro-guest blk-records
# (test/microguests/blk-records.s: it fills a 16-sector virtio-blk disk,
# then waits for the power button) with `dump "|CMD"`:
#   drop     while the guest runs, every thread of qvm (/proc/PID/task/*/
#            status: the main thread, the vCPU, virtio-blk's worker blk-q0
#            started before the change, under its system-call filter) has
#            Uid and Gid 65534 four times, no supplementary group and no
#            effective capability; the /dev/qvm socket belongs to 65534;
#            the guest went on writing its disk (BLK-FULL) after the change;
#            SIGUSR2's dump runs its command as 65534 too (the spawner took
#            the user's credentials); SIGTERM powers the guest off (exit 0),
#            nothing trapped.
#   groups   `user 65534:65534,4,5`: Groups: 4 5 in every thread.
#   nogid    `user 65534`: the primary group from the password database
#            (getent passwd 65534), no supplementary group; SKIP when the
#            host's database has no 65534.
# Refusals at file:line:token are rows of test/microguests/tests.tsv
# (cfg-user-name, cfg-user-gid).
# SKIP when not root (qvm cannot change its user) or without /dev/kvm.
# Prints `RESULT PASS|FAIL|SKIP native/user-<name> [why]`.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
BUILD=${BUILD:-build}
QVM=${QVM_BIN:-$top/$BUILD/bin/qvm}
mg=$top/$BUILD/microguests
work=$(mktemp -d /tmp/qvm-user.XXXXXX)
chmod 0711 "$work"  # the dump command, as 65534, reaches out/
export QVM_RESMGR_DIR=$work/resmgr
trap 'rm -rf "$work"' EXIT
# The dump command, as 65534, writes here.
mkdir -p "$work/out" && chmod 0777 "$work/out"

result() { echo "RESULT $1 native/user-$2${3:+ $3}"; }
names="drop groups nogid"

if [ "$(id -u)" != 0 ]; then
  for n in $names; do result SKIP "$n" "not root: qvm can change its user only when started as root"; done
  exit 0
fi
for f in "$QVM" "$mg/blk-records.bin" "$mg/blk-records.qvmconf"; do
  [ -e "$f" ] || { for n in $names; do result FAIL "$n" "$f not built"; done; exit 0; }
done
if ! "$top/$BUILD/bin/qvm-kvm-probe" >/dev/null 2>&1; then
  for n in $names; do result SKIP "$n" "no usable /dev/kvm"; done
  exit 0
fi

# check NAME USER UID GID "GROUPS": runs the guest as above and checks.
check() {
  local name=$1 user=$2 uid=$3 gid=$4 groups=$5
  local out=$work/$name.log pid i t bad="" nthreads=0 sock
  dd if=/dev/zero of="$work/$name.img" bs=512 count=16 2>/dev/null
  : >"$out"
  "$QVM" @"$mg/blk-records.qvmconf" \
    vdev virtio-blk hostdev "$work/$name.img" user "$user" \
    dump "|grep -E '^(Uid|Gid|Groups):' /proc/self/status >$work/out/$name.cmd; cat >/dev/null" \
    >"$out" 2>&1 </dev/null &
  pid=$!
  for ((i = 0; i < 1200; i++)); do
    grep -q '^BLK-FULL' "$out" && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.05
  done
  if grep -q '^BLK-FULL' "$out"; then
    for t in /proc/$pid/task/*; do
      [ -r "$t/status" ] || continue
      nthreads=$((nthreads + 1))
      local comm u g gr cap
      comm=$(cat "$t/comm" 2>/dev/null)
      u=$(awk '$1 == "Uid:" { print $2, $3, $4, $5 }' "$t/status")
      g=$(awk '$1 == "Gid:" { print $2, $3, $4, $5 }' "$t/status")
      gr=$(awk '$1 == "Groups:" { $1 = ""; sub(/^ /, ""); print }' "$t/status")
      cap=$(awk '$1 == "CapEff:" { print $2 }' "$t/status")
      [ "$u" = "$uid $uid $uid $uid" ] || bad="$bad thread $comm Uid '$u';"
      [ "$g" = "$gid $gid $gid $gid" ] || bad="$bad thread $comm Gid '$g';"
      [ "$gr" = "$groups" ] || bad="$bad thread $comm Groups '$gr' (expected '$groups');"
      [ "$cap" = 0000000000000000 ] || bad="$bad thread $comm CapEff $cap;"
    done
    sock=$(stat -c %u "$QVM_RESMGR_DIR/mg-blk-records" 2>/dev/null)
    [ "$sock" = "$uid" ] || bad="$bad the /dev/qvm socket belongs to '${sock:-nobody: absent}';"
    local workers
    workers=$(cat /proc/$pid/task/*/comm 2>/dev/null | grep -c '^blk-q0$')
    [ "$workers" = 1 ] || bad="$bad no blk-q0 worker thread;"
  fi
  kill -USR2 $pid 2>/dev/null
  for ((i = 0; i < 600; i++)); do
    grep -q 'guest dump' "$out" && break
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
  local rc=$? cmdu
  cmdu=$(awk '$1 == "Uid:" { print $2, $3, $4, $5 }' "$work/out/$name.cmd" 2>/dev/null)
  if ! grep -q '^BLK-FULL' "$out"; then
    result FAIL "$name" "the guest did not fill its disk: $(tail -n 2 "$out" | tr '\n' ' ')"
  elif ! grep -q "\`user\`: running as $uid:$gid" "$out"; then
    result FAIL "$name" "no 'running as $uid:$gid' line: $(grep -m1 'user' "$out")"
  elif [ -n "$bad" ]; then
    result FAIL "$name" "$bad"
  elif [ "$nthreads" -lt 3 ]; then
    result FAIL "$name" "only $nthreads threads seen"
  elif [ "$cmdu" != "$uid $uid $uid $uid" ]; then
    result FAIL "$name" "the dump command ran with Uid '$cmdu', expected $uid"
  elif [ $rc != 0 ]; then
    result FAIL "$name" "exit $rc after SIGTERM, expected 0: $(tail -n 2 "$out" | tr '\n' ' ')"
  elif grep -q "internal error" "$out"; then
    result FAIL "$name" "$(grep -m1 'internal error' "$out")"
  else
    result PASS "$name"
  fi
}

check drop 65534:65534 65534 65534 ""
check groups 65534:65534,4,5 65534 65534 "4 5"
pw=$(getent passwd 65534 | cut -d: -f4)
if [ -z "$pw" ]; then
  result SKIP nogid "the password database has no UID 65534"
else
  check nogid 65534 65534 "$pw" ""
fi
exit 0
