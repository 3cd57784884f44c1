#!/usr/bin/env bash
# End-to-end test of /dev/qvm and qvmctl against a live qvm running the
# "control" micro-guest (test/microguests/control.s) on this machine's
# /dev/kvm. Prints one line per check:
#   RESULT PASS|FAIL|SKIP native/control-NAME [why]
# Sockets go to a private directory ($QVM_RESMGR_DIR) so concurrent runs
# never collide. Needs: build/bin/{qvm,qvmctl,qvm-kvm-probe}, the
# micro-guests (make microguests), python3; gdb and setpriv when present.
set -u
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root" || exit 1
BUILD=${BUILD:-build}
QVM=$root/$BUILD/bin/qvm
CTL=$root/$BUILD/bin/qvmctl
CFG=$root/$BUILD/microguests/control.qvmconf
NAME=mg-control
nfail=0

result() {  # verdict name why...
  local v=$1 n=$2
  shift 2
  echo "RESULT $v native/control-$n${*:+ $*}"
  [[ $v == FAIL ]] && nfail=$((nfail + 1))
  return 0
}
check() {  # name command... : PASS when the command succeeds
  local n=$1
  shift
  # In this shell (not a subshell): checks may start and reap qvm.
  if "$@" >"$work/check.out" 2>&1; then
    result PASS "$n"
  else
    result FAIL "$n" "$(tail -n 3 "$work/check.out" | tr '\n' ' ' | cut -c1-300)"
  fi
}

all=(list status env stats-exact pause-counter dump-gdb console sigusr2-dump
     denied duplicate-name stop stale-replaced kill not-running)
if [[ ! -x $QVM || ! -x $CTL || ! -f $CFG || ! -x $BUILD/bin/qvm-kvm-probe ]]; then
  for n in "${all[@]}"; do result FAIL "$n" "not built (make all microguests)"; done
  exit 1
fi
if ! "$BUILD/bin/qvm-kvm-probe" >/dev/null 2>&1; then
  for n in "${all[@]}"; do result SKIP "$n" "no usable /dev/kvm"; done
  exit 0
fi

work=$(mktemp -d /tmp/qvm-control-test.XXXXXX)
chmod 755 "$work"
export QVM_RESMGR_DIR=$work/sock
mkdir -p "$QVM_RESMGR_DIR" "$work/dumps"
chmod 755 "$QVM_RESMGR_DIR"
qpid=""
cleanup() {
  [[ -n $qpid ]] && kill -9 "$qpid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

start_qvm() {  # log file; waits for the guest's "control: counted"
  local log=$1
  (cd "$work" && exec "$QVM" @"$CFG" dump "$work/dumps" </dev/null >"$log" 2>&1) &
  qpid=$!
  for _ in $(seq 600); do  # up to 60 s: a loaded host starts slowly
    grep -q "control: counted" "$log" 2>/dev/null && [[ -S $QVM_RESMGR_DIR/$NAME ]] && return 0
    kill -0 "$qpid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
wait_qvm() {  # expected exit code; waits up to 60 s
  local i
  for i in $(seq 600); do
    kill -0 "$qpid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$qpid" 2>/dev/null; then echo "qvm still running"; return 1; fi
  wait "$qpid"
  local rc=$?
  qpid=""
  [[ $rc == "$1" ]] || { echo "qvm exited $rc, expected $1"; return 1; }
}
# Reads the 32-bit counter at guest-physical 0x8000 from a dump (PT_LOAD).
counter() {
  python3 - "$1" <<'PY'
import struct, sys
d = open(sys.argv[1], 'rb').read()
assert d[:4] == b'\x7fELF' and d[16] == 4, 'not an ELF core'
phoff, = struct.unpack_from('<Q', d, 32); phnum, = struct.unpack_from('<H', d, 56)
for i in range(phnum):
    t, f, off, va, pa, fs, ms, al = struct.unpack_from('<IIQQQQQQ', d, phoff + 56 * i)
    if t == 1 and pa <= 0x8000 < pa + fs:
        print(struct.unpack_from('<I', d, off + 0x8000 - pa)[0]); break
else:
    sys.exit('no PT_LOAD covers 0x8000')
PY
}
dump() { "$CTL" dump "$NAME"; }

log=$work/qvm.log
if ! start_qvm "$log"; then
  for n in "${all[@]}"; do result FAIL "$n" "qvm did not start: $(tail -n 3 "$log" | tr '\n' ' ')"; done
  exit 1
fi

t_list() {
  local out; out=$("$CTL" list) || return 1
  echo "$out" | grep -E "^$NAME +running +$qpid " || { echo "$out"; return 1; }
}
check list t_list

t_status() {
  local out; out=$("$CTL" status "$NAME") || return 1
  grep -q "^state: running" <<<"$out" && grep -q "^pid: $qpid" <<<"$out" || { echo "$out"; return 1; }
  "$CTL" status --json "$NAME" | python3 -c 'import json,sys; j=json.load(sys.stdin); assert j["state"]=="running" and len(j["vcpus"])==1, j'
}
check status t_status

t_env() {
  "$CTL" env "$NAME" | python3 -c '
import json, sys
j = json.load(sys.stdin)
for k in ("system", "qvm_version", "state", "start_time", "config", "memory", "vcpus", "devices"):
    assert k in j, "missing " + k
assert j["system"] == "mg-control" and j["state"] == "running", j["state"]
assert j["memory"][0]["size"] == "0x1000000", j["memory"]
assert j["vcpus"][0]["tid"] > 0
devs = {d["name"]: d for d in j["devices"]}
assert set(devs) == {"ioapic", "mc146818", "ser8250", "debug-exit"}, devs.keys()
assert devs["ser8250"]["console"] and devs["ser8250"]["loc"][0]["base"] == "0x3f8"
assert devs["ser8250"]["intr"] == ["ioapic:4"], devs["ser8250"]["intr"]
assert devs["ser8250"]["options"] == {"hostdev": ">-"}
assert j["config"]["loads"][0]["addr"] == "0x100000"
'
}
check env t_env

t_stats() {
  "$CTL" stats --json "$NAME" | python3 -c '
import json, sys
j = json.load(sys.stdin)
rtc = [r for r in j["regions"] if r["device"] == "mc146818"]
assert rtc and rtc[0]["count"] == 1000, rtc
tot = sum(r["count"] for r in j["regions"])
assert tot == j["total"]["pio"]["count"] + j["total"]["mmio"]["count"], (tot, j["total"])
' && "$CTL" stats "$NAME" | grep -E "^mc146818 +io:0x70\+0x2 +1000 "
}
check stats-exact t_stats

t_pause() {
  "$CTL" pause "$NAME" || return 1
  "$CTL" status "$NAME" | grep -q "^state: paused" || { echo "not paused"; return 1; }
  local a b c fa fb fc
  fa=$(dump) || return 1
  sleep 0.5
  fb=$(dump) || return 1
  "$CTL" resume "$NAME" || return 1
  a=$(counter "$fa") && b=$(counter "$fb") || return 1
  # resumed, the counter moves on: wait for it (a loaded host may not run
  # the vCPU for a while), at most 60 s
  for _ in $(seq 120); do
    sleep 0.5
    fc=$(dump) || return 1
    c=$(counter "$fc") || return 1
    ((c > b)) && break
  done
  echo "counter: paused $a, $b; resumed $c"
  [[ $a == "$b" && $c -gt $b ]] || return 1
  "$CTL" status "$NAME" | grep -q "^state: running"
}
check pause-counter t_pause

t_dump_gdb() {
  local f; f=$(dump) || return 1
  [[ $f == "$work/dumps/$NAME-"*.gcore ]] || { echo "dump name $f"; return 1; }
  readelf -h "$f" | grep -q "CORE (Core file)" || return 1
  readelf -n "$f" | grep -q NT_PRSTATUS || return 1
  readelf -h "$f" | grep -q "Advanced Micro Devices X86-64" || { readelf -h "$f"; return 1; }
  local want; want=$(counter "$f") || return 1
  # The registers as the dump stores them (NT_PRSTATUS user_regs_struct and
  # the QVM control-register note, vmm/dump.h), read independently of gdb.
  local regs; regs=$(python3 - "$f" <<'PY'
import struct, sys
d = open(sys.argv[1], 'rb').read()
phoff, = struct.unpack_from('<Q', d, 32)
t, f, off, va, pa, fs, ms, al = struct.unpack_from('<IIQQQQQQ', d, phoff)
assert t == 4, 'first program header is not PT_NOTE'
end, ps, cr = off + fs, None, None
while off < end:
    nsz, dsz, typ = struct.unpack_from('<III', d, off)
    name = d[off + 12:off + 12 + nsz - 1]
    desc = off + 12 + (nsz + 3) // 4 * 4
    if name == b'CORE' and typ == 1 and ps is None:
        assert dsz == 336, dsz
        ps = struct.unpack_from('<27Q', d, desc + 112)
    if name == b'QVM' and typ == 0x51540002 and cr is None:
        assert dsz == 40, dsz
        cr = struct.unpack_from('<5Q', d, desc)
    off = desc + (dsz + 3) // 4 * 4
assert ps and cr, 'missing notes'
print('%x %x %x %x %x %x' % (ps[16], ps[17], ps[18], ps[20], ps[23], cr[0]))
PY
) || return 1
  local rip cs eflags ss ds cr0
  read -r rip cs eflags ss ds cr0 <<<"$regs"
  echo "dump: rip=$rip cs=$cs eflags=$eflags ss=$ss ds=$ds cr0=$cr0"
  # common.inc: flat 32-bit protected mode, code 0x08, data 0x10, paging off.
  [[ $cs == 8 && $ss == 10 && $ds == 10 ]] || { echo "segment selectors"; return 1; }
  (( (0x$cr0 & 1) == 1 && (0x$cr0 & 0x80000000) == 0 )) || { echo "cr0"; return 1; }
  if command -v gdb >/dev/null; then
    local out; out=$(timeout 60 gdb -nx -batch -c "$f" -ex 'info registers rip cs ss ds eflags' \
      -ex 'x/wd 0x8000' 2>&1)
    echo "$out" | grep -qE "^rip +0x$rip " || { echo "$out"; return 1; }
    [[ $rip =~ ^1[0-9a-f]{5}$ ]] || { echo "rip $rip outside the image"; return 1; }
    echo "$out" | grep -qE "^cs +0x8 " || { echo "$out"; return 1; }
    echo "$out" | grep -qE "^ss +0x10 " || { echo "$out"; return 1; }
    echo "$out" | grep -qE "^ds +0x10 " || { echo "$out"; return 1; }
    echo "$out" | grep -qE "^eflags +0x$eflags " || { echo "$out"; return 1; }
    echo "$out" | grep -qE "^0x8000:[[:space:]]+$want\$" || { echo "$out"; return 1; }
  else
    echo "gdb not installed: gdb part not run"
  fi
}
check dump-gdb t_dump_gdb

# The guest echoes the line in capitals. qvmctl's stdin stays open until
# the echo has arrived (at most 60 s: a loaded host may take seconds), then
# closes; qvmctl ends 1 s after that. No check depends on how fast it came.
t_console() {
  local out=$work/console.out
  : >"$out"
  { printf 'hello qvm\n'
    for _ in $(seq 600); do grep -q "HELLO QVM" "$out" && break; sleep 0.1; done
  } | timeout 90 "$CTL" console --timeout 1 "$NAME" >"$out" || return 1
  grep -q "HELLO QVM" "$out" || { echo "console output: $(cat "$out")"; return 1; }
  grep -q "HELLO QVM" "$log"  # the guest's output still reaches qvm's stdout
}
check console t_console

t_sigusr2() {
  local before after
  before=$(ls "$work/dumps" | wc -l)
  kill -USR2 "$qpid"
  for _ in $(seq 600); do
    after=$(ls "$work/dumps" | wc -l)
    ((after > before)) && grep -q "SIGUSR2: guest dump written" "$log" && break
    sleep 0.1
  done
  ((after > before)) || { echo "no new dump"; return 1; }
  kill -0 "$qpid" && "$CTL" status "$NAME" | grep -q "^state: running"
}
check sigusr2-dump t_sigusr2

t_denied() {
  command -v setpriv >/dev/null || { echo "setpriv missing"; return 1; }
  [[ $(id -u) == 0 ]] || { echo "needs root to switch uid"; return 1; }
  local out rc
  out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$CTL" status "$NAME" 2>&1)
  rc=$?
  [[ $rc == 4 ]] && grep -q "access denied" <<<"$out" || { echo "rc=$rc $out"; return 1; }
}
if [[ $(id -u) == 0 ]] && command -v setpriv >/dev/null; then
  check denied t_denied
else
  result SKIP denied "needs root and setpriv to run a client as another uid"
fi

t_duplicate() {
  local out rc
  out=$(cd "$work" && timeout 20 "$QVM" @"$CFG" </dev/null 2>&1)
  rc=$?
  [[ $rc == 64 ]] && grep -q "already running" <<<"$out" || { echo "rc=$rc $out"; return 1; }
  kill -0 "$qpid" && [[ -S $QVM_RESMGR_DIR/$NAME ]]
}
check duplicate-name t_duplicate

t_stop() {
  "$CTL" stop "$NAME" || return 1
  wait_qvm 0 || return 1
  [[ ! -e $QVM_RESMGR_DIR/$NAME ]] || { echo "socket left behind"; return 1; }
}
check stop t_stop

t_stale() {
  start_qvm "$work/qvm2.log" || return 1
  kill -9 "$qpid"; wait "$qpid" 2>/dev/null; qpid=""
  [[ -S $QVM_RESMGR_DIR/$NAME ]] || { echo "no stale socket to test with"; return 1; }
  local out rc
  out=$("$CTL" status "$NAME" 2>&1); rc=$?
  [[ $rc == 3 ]] && grep -q "stale" <<<"$out" || { echo "rc=$rc $out"; return 1; }
  start_qvm "$work/qvm3.log" || { tail -n 3 "$work/qvm3.log"; return 1; }
  "$CTL" status "$NAME" | grep -q "^state: running"
}
check stale-replaced t_stale

t_kill() {
  [[ -n $qpid ]] || { echo "no qvm"; return 1; }
  "$CTL" kill "$NAME" || return 1
  wait_qvm 3
}
check kill t_kill

t_not_running() {
  local out rc
  out=$("$CTL" status "$NAME" 2>&1); rc=$?
  [[ $rc == 3 ]] && grep -q "not running" <<<"$out" || { echo "rc=$rc $out"; return 1; }
}
check not-running t_not_running

((nfail == 0))
