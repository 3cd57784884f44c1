#!/usr/bin/env bash
# vdev shmem end to end: the host tool (qvm-shm, vdev/libshm) on its own,
# then shmem micro-guests (test/microguests/shm-*.s), each in its own qvm on
# this machine's /dev/kvm, sharing region "mg-shm":
#   exchange    shm-a and shm-b exchange a buffer both ways with interrupts,
#               and a host program sees shm-a's data
#   client-max  with 16 host clients attached, shm-full gets "client max"
#   killed      shm-watch sees shm-sleep drop out when its qvm is killed
# Prints RESULT PASS|FAIL|SKIP native/shm-NAME [why]. The micro-guest part
# holds /tmp/qvm-shm-mg.lock (one run at a time: the region name is fixed
# in the guests) and reports SKIP without a usable /dev/kvm. Timeouts are
# generous (loaded CI hosts); nothing here is timed.
set -u
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root" || exit 1
BUILD=${BUILD:-build}
QVM=$root/$BUILD/bin/qvm
SHM=$root/$BUILD/bin/qvm-shm
MG=$root/$BUILD/microguests
work=$(mktemp -d "${TMPDIR:-/tmp}/qvm-shm-test.XXXXXX")
declare -A dog_of
pids=()   # qvm and qvm-shm processes this script started
dogs=()   # their watchdogs (a subshell each, with its sleep)
cleanup() {
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  for d in "${dogs[@]}"; do pkill -KILL -P "$d" 2>/dev/null; kill -KILL "$d" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

result() {  # verdict name why...
  local v=$1 n=$2
  shift 2
  echo "RESULT $v native/shm-$n${*:+ $*}"
}

if [[ ! -x $SHM ]]; then
  for n in tool-exchange tool-names tool-client-max tool-killed exchange client-max killed; do
    result FAIL "$n" "not built (make all)"
  done
  exit 0
fi

# waitfor FILE STRING SECONDS: 0 once FILE contains STRING.
waitfor() {
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    grep -q -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# ---- the host tool ---------------------------------------------------------
t=qvmshmtest$$
why=""
"$SHM" create "$t" 10000 || why="create"
[[ -z $why ]] && { "$SHM" status "$t" | grep -q '^pages 3 idx 0 active 0x1$' || why="status"; }
"$SHM" wait "$t" 120 >"$work/w1" 2>&1 &
w1=$!
pids+=("$w1")
[[ -z $why ]] && { waitfor "$work/w1" "idx 0" 60 || why="waiter did not attach"; }
[[ -z $why ]] && { "$SHM" put "$t" 5000 "hello shm" || why="put"; }
[[ -z $why ]] && { wait "$w1" && grep -q '^from 0x2$' "$work/w1" || why="waiter: $(tr '\n' ' ' <"$work/w1")"; }
[[ -z $why ]] && { [[ $("$SHM" get "$t" 5000 64) == "hello shm" ]] || why="get"; }
[[ -z $why ]] && result PASS tool-exchange || result FAIL tool-exchange "$why"

why=""
"$SHM" create 'bad/name' 4096
[[ $? == 14 ]] || why="bad/name accepted"
"$SHM" get "nothere$$" 0 1 2>/dev/null
[[ $? == 16 ]] || why="$why missing region not 'does not exist'"
"$SHM" put "$t" 12287 "x" 2>/dev/null
[[ $? == 2 ]] || why="$why write past the end accepted"
[[ -z $why ]] && result PASS tool-names || result FAIL tool-names "$why"

# 16 clients, then the 17th is refused; a killed client drops out.
why=""
for i in $(seq 1 16); do
  "$SHM" wait "$t" 120 >"$work/c$i" 2>&1 &
  pids+=("$!")
  cpid[$i]=$!
done
for i in $(seq 1 16); do waitfor "$work/c$i" "idx" 60 || why="client $i did not attach"; done
"$SHM" status "$t" >/dev/null 2>&1
[[ $? == 13 ]] || why="$why 17th client not refused with client max"
[[ -z $why ]] && result PASS tool-client-max || result FAIL tool-client-max "$why"
why=""
kill -KILL "${cpid[3]}" 2>/dev/null
wait "${cpid[3]}" 2>/dev/null
"$SHM" status "$t" >"$work/st" 2>&1 || why="no slot after a client was killed"
[[ -z $why ]] && { grep -q 'active 0x' "$work/st" || why="status: $(cat "$work/st")"; }
[[ -z $why ]] && result PASS tool-killed || result FAIL tool-killed "$why"
for i in $(seq 1 16); do kill -KILL "${cpid[$i]}" 2>/dev/null; done
wait 2>/dev/null
pids=()
"$SHM" unlink "$t"

# ---- micro-guests in several qvm processes --------------------------------
names=(exchange client-max killed)
if [[ ! -x $QVM || ! -f $MG/shm-a.bin || ! -x $BUILD/bin/qvm-kvm-probe ]]; then
  for n in "${names[@]}"; do result FAIL "$n" "not built (make all microguests)"; done
  exit 0
fi
if ! "$BUILD/bin/qvm-kvm-probe" >/dev/null 2>&1; then
  for n in "${names[@]}"; do result SKIP "$n" "no usable /dev/kvm"; done
  exit 0
fi
exec 9>/tmp/qvm-shm-mg.lock
if ! flock -w 600 9; then
  for n in "${names[@]}"; do result FAIL "$n" "/tmp/qvm-shm-mg.lock held for 10 minutes"; done
  exit 0
fi

# guest NAME: qvm with micro-guest NAME in the background (pid $gpid, log
# $work/NAME.log), killed after 300 s by a watchdog. Children never inherit
# the lock's fd 9 (a qvm left running would hold the lock).
guest() {
  "$QVM" @"$MG/$1.qvmconf" </dev/null >"$work/$1.log" 2>&1 9>&- &
  gpid=$!
  pids+=("$gpid")
  { sleep 300; kill -KILL "$gpid" 2>/dev/null; } 9>&- &
  dogs+=("$!")
  dog_of[$gpid]=$!
}
# stopdog PID: the watchdog of guest PID is not needed any more.
stopdog() {
  local d=${dog_of[$1]:-}
  [[ -n $d ]] && { pkill -KILL -P "$d" 2>/dev/null; kill -KILL "$d" 2>/dev/null; wait "$d" 2>/dev/null; }
  return 0
}
# verdict NAME PID: waits for the guest's qvm (a child of this shell: not
# from a subshell); appends why to $why unless the guest passed (exit 1).
verdict() {
  wait "$2"
  local rc=$?
  stopdog "$2"
  [[ $rc == 1 ]] && return 0
  why="$why $1: qvm exit $rc: $(grep -a -E 'FAIL|shm-|rror' "$work/$1.log" | tail -n 3 | tr '\n' ' ')"
}

"$SHM" unlink mg-shm 2>/dev/null
guest shm-a
pa=$gpid
guest shm-b
pb=$gpid
why=""
verdict shm-a "$pa"
verdict shm-b "$pb"
if [[ -z $why ]]; then  # a host program sees what shm-b wrote (page 2: i*13+5)
  first=$("$SHM" get mg-shm 8192 1 | head -c 1 | od -An -tx1 | tr -d ' \n')
  [[ $first == 05 ]] || why="host view of page 2 starts with '$first', not 05"
fi
[[ -z $why ]] && result PASS exchange || result FAIL exchange "$why"

"$SHM" unlink mg-shm 2>/dev/null
"$SHM" create mg-shm 16384
why=""
for i in $(seq 1 16); do
  "$SHM" wait mg-shm 300 >"$work/m$i" 2>&1 9>&- &
  pids+=("$!")
done
for i in $(seq 1 16); do waitfor "$work/m$i" "idx" 60 || why="host client $i did not attach"; done
if [[ -z $why ]]; then
  guest shm-full
  verdict shm-full "$gpid"
fi
[[ -z $why ]] && result PASS client-max || result FAIL client-max "$why"
for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
pids=()

"$SHM" unlink mg-shm 2>/dev/null
guest shm-watch
pw=$gpid
why=""
waitfor "$work/shm-watch.log" "shm-watch: peer" 1 && why="a peer before shm-sleep started"
"$QVM" @"$MG/shm-sleep.qvmconf" </dev/null >"$work/shm-sleep.log" 2>&1 9>&- &
ps=$!
pids+=("$ps")
waitfor "$work/shm-watch.log" "shm-watch: peer attached" 120 || why="$why shm-watch never saw shm-sleep"
kill -KILL "$ps" 2>/dev/null
wait "$ps" 2>/dev/null
verdict shm-watch "$pw"
[[ -z $why ]] && result PASS killed || result FAIL killed "$why"
"$SHM" unlink mg-shm 2>/dev/null
exit 0
