#!/usr/bin/env bash
# The gdb remote stub end to end: Debian's gdb (`gdb -batch -x SCRIPT`)
# debugs the "gdb" micro-guest (test/microguests/gdb.s, two vCPUs, `set
# gdb-wait on`) through qvm's `set gdb` Unix socket on this machine's
# /dev/kvm. Prints one line per check:
#   RESULT PASS|FAIL|SKIP native/gdb-NAME [why]
# Every qvm and gdb is bounded by a generous timeout; nothing is timed.
# The ctl-* checks start the stub of a running qvm (the "control"
# micro-guest, no `set gdb`) with `qvmctl gdb`.
# Needs build/bin/{qvm,qvmctl,qvm-kvm-probe}, the micro-guests, gdb-multiarch
# (or gdb), binutils (objcopy, nm), python3. KEEP=1 keeps the scratch directory
# (scripts, gdb output, qvm logs) and names it on stderr.
set -u
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root" || exit 1
BUILD=${BUILD:-build}
QVM=$root/$BUILD/bin/qvm
MG=$root/$BUILD/microguests
TIMEOUT=${TIMEOUT:-180}
nfail=0

result() {  # verdict name why...
  local v=$1 n=$2
  shift 2
  echo "RESULT $v native/gdb-$n${*:+ $*}"
  [[ $v == FAIL ]] && nfail=$((nfail + 1))
  return 0
}

all=(socket-mode connect threads regs hbreak reg-write mem-write watch stepi exit detach break junk interrupt kill tcp
     ctl-live ctl-start ctl-list ctl-attach ctl-runs ctl-again ctl-refuse ctl-cleanup reset-keeps reset-remove reset-runs)
[[ -x $QVM && -f $MG/gdb.elf && -f $MG/gdb.qvmconf && -x $BUILD/bin/qvm-kvm-probe ]] ||
  { for n in "${all[@]}"; do result FAIL "$n" "not built (make all microguests)"; done; exit 1; }
# Debian's gdb-multiarch (make deps installs it; it debugs x86-64 as gdb does).
GDB=$(command -v gdb-multiarch || command -v gdb) ||
  { for n in "${all[@]}"; do result SKIP "$n" "gdb is not installed (make deps installs gdb-multiarch)"; done; exit 0; }
"$BUILD/bin/qvm-kvm-probe" >/dev/null 2>&1 ||
  { for n in "${all[@]}"; do result SKIP "$n" "no usable /dev/kvm"; done; exit 0; }

work=$(mktemp -d /tmp/qvm-gdb-test.XXXXXX)
export QVM_RESMGR_DIR=$work/res
mkdir -p "$QVM_RESMGR_DIR"
qpid=""
cleanup() {
  [[ -n ${KEEP:-} ]] && { echo "kept $work" >&2; return; }
  [[ -n $qpid ]] && kill -9 "$qpid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# The guest is 32-bit code in an i386 ELF; the stub describes the vCPU as
# x86-64 (its registers are). gdb takes symbols from an x86-64 container
# of the same sections (addresses and symbols unchanged).
objcopy -I elf32-i386 -O elf64-x86-64 "$MG/gdb.elf" "$work/gdb64.elf" ||
  { for n in "${all[@]}"; do result FAIL "$n" "objcopy failed"; done; exit 1; }
sym() { nm "$MG/gdb.elf" | awk -v s="$1" '$3 == s { print "0x" $1 }' | sed 's/0x0*/0x/'; }
spot=$(sym gdb_spot)
steps=$(sym gdb_steps)
steps4=$(printf '0x%x' $((steps + 4)))
spin=$(sym gdb_spin)

start_qvm() {  # log [endpoint]: qvm in the background, its gdb socket at $work/gdb.sock
  rm -f "$work/gdb.sock"
  timeout -s KILL "$TIMEOUT" "$QVM" @"$MG/gdb.qvmconf" set gdb "${2:-$work/gdb.sock}" \
    </dev/null >"$1" 2>&1 &
  qpid=$!
  for _ in $(seq 600); do
    [[ -z ${2:-} && -S $work/gdb.sock ]] && return 0
    [[ -n ${2:-} ]] && grep -q "gdb: listening" "$1" && return 0
    kill -0 "$qpid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
qrc=0
wait_qvm() {  # -> $qrc: qvm's exit code (not in a subshell: qvm is this shell's child)
  qrc=0
  wait "$qpid" || qrc=$?
  qpid=""
}
gdb_head() {  # the start of every session's script: symbols, attach
  printf 'set pagination off\nset confirm off\nfile %s\ntarget remote %s\n' \
    "$work/gdb64.elf" "$work/gdb.sock"
}
run_gdb() {  # script output
  timeout -s KILL "$TIMEOUT" "$GDB" -nx -batch -iex 'set auto-load off' -x "$1" >"$2" 2>&1
}

# ---- session 1: the whole walk ---------------------------------------------
{ gdb_head; cat <<EOF
echo MARK-threads\n
info threads
echo MARK-pc0\n
p/x \$pc
hbreak gdb_spot
continue
echo MARK-pc1\n
p/x \$pc
set \$rax = 0x1234
set var *(int*)&gdb_flag = 0x5a
echo MARK-flag\n
p/x *(int*)&gdb_flag
delete
watch *(int*)&gdb_var
hbreak gdb_steps
continue
echo MARK-pcw\n
p/x \$pc
delete
stepi 4
echo MARK-pc2\n
p/x \$pc
continue
EOF
} >"$work/s1.gdb"
if ! start_qvm "$work/q1.log"; then
  for n in "${all[@]}"; do result FAIL "$n" "qvm did not open its gdb socket: $(tail -n 3 "$work/q1.log" | tr '\n' ' ')"; done
  exit 1
fi
mode=$(stat -c %a "$work/gdb.sock")
[[ $mode == 600 ]] && result PASS socket-mode || result FAIL socket-mode "the stub's socket has mode $mode, not 600"
run_gdb "$work/s1.gdb" "$work/g1.out"
wait_qvm
rc1=$qrc
out=$(cat "$work/g1.out")
after() { sed -n "/^MARK-$1\$/,\$p" "$work/g1.out" | sed -n 2p; }
why="$(tail -n 4 "$work/g1.out" | tr '\n' ' ' | cut -c1-300)"

# Attached: gdb shows where the stopped target is before the first mark.
[[ $(sed -n '1,/^MARK-threads$/p' "$work/g1.out") == *" in _start ()"* ]] && result PASS connect ||
  result FAIL connect "$why"
threads=$(sed -n '/^MARK-threads$/,/^MARK-pc0$/p' "$work/g1.out" | grep -cE '^[ *]+[0-9]+ +Thread ')
[[ $threads == 2 ]] && result PASS threads || result FAIL threads "expected 2 threads (2 vCPUs), saw $threads"
# gdb-wait: the guest has not run its first instruction (the image's entry).
[[ $(after pc0) == *"= 0x100000" ]] && result PASS regs || result FAIL regs "pc at attach: $(after pc0)"
[[ $(after pc1) == *"= $spot" && $out == *"Breakpoint 1, "* ]] && result PASS hbreak ||
  result FAIL hbreak "pc at the breakpoint: $(after pc1), gdb_spot is $spot"
[[ $(after flag) == *"= 0x5a" ]] && result PASS mem-write || result FAIL mem-write "read back: $(after flag)"
# The write to gdb_var traps after the instruction: pc is gdb_steps. On
# kvm_pvm the guest's kernel code runs in KVM's instruction emulator, which
# checks instruction breakpoints but not data breakpoints: there the
# hbreak on gdb_steps stops the guest instead, and the check is skipped.
if [[ $out == *"Hardware watchpoint 2: "* && $out == *"New value = 1"* && $(after pcw) == *"= $steps" ]]; then
  result PASS watch
elif [[ -e /sys/module/kvm_pvm && $(after pcw) == *"= $steps" ]]; then
  result SKIP watch "kvm_pvm emulates the guest's kernel code and does not check data breakpoints there (instruction breakpoints work: hbreak)"
else
  result FAIL watch "pc $(after pcw) (gdb_steps $steps): $why"
fi
[[ $(after pc2) == *"= $steps4" ]] && result PASS stepi || result FAIL stepi "pc after stepi 4: $(after pc2), expected $steps4"
# The guest checks the debugger's writes itself: %eax (check 1) and
# gdb_flag (check 2); exit 1 = both arrived and the guest ran to its end.
if [[ $rc1 == 1 ]] && grep -q "PASS gdb" "$work/q1.log"; then
  result PASS reg-write
  result PASS exit
else
  result FAIL reg-write "qvm exit $rc1 (1 = guest passed): $(grep -m1 -E 'FAIL|error' "$work/q1.log")"
  result FAIL exit "qvm exit $rc1: $(tail -n 2 "$work/q1.log" | tr '\n' ' ')"
fi

# ---- session 2: detach with a breakpoint planted: the guest runs on ---------
{ gdb_head; cat <<EOF
hbreak gdb_spot
continue
set \$rax = 0x1234
set var *(int*)&gdb_flag = 0x5a
hbreak gdb_after_steps
detach
EOF
} >"$work/s2.gdb"
if start_qvm "$work/q2.log"; then
  run_gdb "$work/s2.gdb" "$work/g2.out"
  wait_qvm
  rc2=$qrc
  # A breakpoint left in memory would trap in the guest (exit 63).
  [[ $rc2 == 1 ]] && result PASS detach || result FAIL detach "qvm exit $rc2: $(tail -n 3 "$work/g2.out" | tr '\n' ' ')"
else
  result FAIL detach "qvm did not open its gdb socket"
fi

# ---- session 4: a software breakpoint (int3 under KVM_GUESTDBG_USE_SW_BP) --
# kvm_pvm runs guest kernel code in KVM's instruction emulator, which fails
# on an int3 the debugger intercepts (KVM internal error, emulation
# failure): checked on hardware KVM (and wherever this suite runs on one).
if [[ -e /sys/module/kvm_pvm ]]; then
  result SKIP break "kvm_pvm's instruction emulator cannot run an intercepted int3 (emulation failure); hardware breakpoints are checked above"
elif start_qvm "$work/q4.log"; then
  { gdb_head; cat <<EOF
break gdb_spot
continue
echo MARK-pc\\n
p/x \$pc
set \$rax = 0x1234
set var *(int*)&gdb_flag = 0x5a
continue
EOF
  } >"$work/s4.gdb"
  run_gdb "$work/s4.gdb" "$work/g4.out"
  wait_qvm
  pc=$(sed -n '/^MARK-pc$/,$p' "$work/g4.out" | sed -n 2p)
  [[ $pc == *"= $spot" && $qrc == 1 ]] && result PASS break ||
    result FAIL break "pc $pc (gdb_spot $spot), qvm exit $qrc: $(tail -n 2 "$work/q4.log" | tr '\n' ' ')"
else
  result FAIL break "qvm did not open its gdb socket"
fi

# ---- session 3: junk on the socket, then the guest runs on ------------------
if start_qvm "$work/q3.log"; then
  python3 - "$work/gdb.sock" <<'PY'
import os, random, socket, sys
random.seed(7)
s = socket.socket(socket.AF_UNIX)
s.settimeout(30)
s.connect(sys.argv[1])
junk = [b"$m0,ffffffffffffffff#00", b"$" + b"a" * 100000 + b"#00", b"}}}}", b"\x03" * 10,
        b"$Z0,ffffffffffffffff,1#" , b"$qXfer:features:read:target.xml:ffffffff,ffffffff#00",
        bytes(random.getrandbits(8) for _ in range(65536))]
for j in junk:
    s.sendall(j)
# a well-formed packet still gets its answer ("#00" first ends whatever
# the junk left open)
s.sendall(b"#00$qC#b4")
data = b""
try:
    while b"QC" not in data:
        d = s.recv(65536)
        if not d:
            break
        data += d
except socket.timeout:
    pass
s.close()
sys.exit(0 if b"QC" in data else 1)
PY
  prc=$?
  wait_qvm
  # No debugger wrote the guest's checks: it fails check 1 (exit 3) after
  # the junk's connection went away, as a guest left to run.
  [[ $prc == 0 && $qrc == 3 ]] && result PASS junk ||
    result FAIL junk "client rc $prc, qvm exit $qrc (expected 3): $(tail -n 3 "$work/q3.log" | tr '\n' ' ')"
else
  result FAIL junk "qvm did not open its gdb socket"
fi

# ---- session 5: Ctrl-C and k, as a client speaks them ----------------------
# `c ADDR` sends vCPU 0 to gdb_spin (a loop); 0x03 must stop every vCPU
# with a T02 naming a thread, rip inside the loop; `k` ends qvm (exit 3).
if start_qvm "$work/q5.log"; then
  python3 - "$work/gdb.sock" "$spin" >"$work/p5.out" 2>&1 <<'PY'
import socket, sys
spin = int(sys.argv[2], 16)
s = socket.socket(socket.AF_UNIX)
s.settimeout(60)
s.connect(sys.argv[1])
buf = b""
def pkt(p):
    return b"$" + p + b"#" + b"%02x" % (sum(p) % 256)
def reply():
    global buf
    while True:
        i = buf.find(b"$")
        j = buf.find(b"#", i + 1) if i >= 0 else -1
        if i >= 0 and j >= 0 and len(buf) >= j + 3:
            r, out, k = buf[i + 1:j], b"", 0
            buf = buf[j + 3:]
            while k < len(r):  # run lengths: X*N = X repeated N-29 more times
                if r[k:k + 1] == b"*" and out and k + 1 < len(r):
                    out += out[-1:] * (r[k + 1] - 29)
                    k += 2
                else:
                    out += r[k:k + 1]
                    k += 1
            return out
        d = s.recv(4096)
        if not d:
            raise SystemExit("connection closed")
        buf += d
s.sendall(pkt(b"QStartNoAckMode"))
assert reply() == b"OK"
s.sendall(pkt(b"c%x" % spin))
s.sendall(b"\x03")
stop = reply()
print("stop", stop.decode())
assert stop.startswith(b"T02thread:"), stop
s.sendall(pkt(b"Hg1"))
assert reply() == b"OK"
s.sendall(pkt(b"p10"))
rip = int.from_bytes(bytes.fromhex(reply().decode()), "little")
print("rip %#x" % rip)
assert spin <= rip < spin + 4, hex(rip)
s.sendall(pkt(b"k"))
try:
    while s.recv(4096):
        pass
except OSError:
    pass
PY
  prc=$?
  wait_qvm
  [[ $prc == 0 ]] && result PASS interrupt || result FAIL interrupt "$(tail -n 3 "$work/p5.out" | tr '\n' ' ')"
  [[ $prc == 0 && $qrc == 3 ]] && result PASS kill || result FAIL kill "client rc $prc, qvm exit $qrc (expected 3)"
else
  result FAIL interrupt "qvm did not open its gdb socket"
  result FAIL kill "qvm did not open its gdb socket"
fi

# ---- session 6: TCP, bound to the loopback address by default -------------
# A free port from the kernel (closed again before qvm binds it).
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
if start_qvm "$work/q6.log" "tcp:$port"; then
  python3 - "$port" >"$work/p6.out" 2>&1 <<'PY'
import socket, sys
port = int(sys.argv[1])
# Listening on 127.0.0.1 only: /proc/net/tcp lists it as 0100007F:PORT, state 0A.
listen = [l.split() for l in open("/proc/net/tcp").read().splitlines()[1:]]
mine = [l for l in listen if l[3] == "0A" and int(l[1].split(":")[1], 16) == port]
assert mine and all(l[1].split(":")[0] == "0100007F" for l in mine), mine
s = socket.create_connection(("127.0.0.1", port), timeout=60)
s.sendall(b"$qSupported#37")
data = b""
while b"PacketSize" not in data:
    d = s.recv(4096)
    assert d, "connection closed"
    data += d
s.sendall(b"$D#44")
while b"OK" not in data.split(b"PacketSize")[-1]:
    d = s.recv(4096)
    if not d:
        break
    data += d
s.close()
PY
  prc=$?
  wait_qvm
  # Detached without the debugger's writes: the guest fails check 1 (exit 3).
  [[ $prc == 0 && $qrc == 3 ]] && result PASS tcp ||
    result FAIL tcp "client rc $prc ($(tail -n 1 "$work/p6.out")), qvm exit $qrc (expected 3)"
else
  result FAIL tcp "qvm did not listen on tcp:$port: $(tail -n 2 "$work/q6.log" | tr '\n' ' ')"
fi

# ---- session 7: `qvmctl gdb` starts the stub of a qvm that has none --------
# The "control" micro-guest counts at 0x8000 for ever (only while it runs).
CTL=$root/$BUILD/bin/qvmctl
res=$QVM_RESMGR_DIR
ctl_all=(ctl-live ctl-start ctl-list ctl-attach ctl-runs ctl-again ctl-refuse ctl-cleanup)
ctl_fail() { for n in "${ctl_all[@]}"; do result FAIL "$n" "$*"; done; }
start_control() {  # log: qvm without `set gdb`, until its guest counts
  (cd "$work" && exec timeout -s KILL "$TIMEOUT" "$QVM" @"$MG/control.qvmconf" </dev/null >"$1" 2>&1) &
  qpid=$!
  for _ in $(seq 600); do
    grep -q "control: counted" "$1" 2>/dev/null && [[ -S $res/mg-control ]] && return 0
    kill -0 "$qpid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
counter_gdb() {  # address script output: attach, show threads, pc and the counter, detach
  printf 'set pagination off\nset confirm off\ntarget remote %s\necho MARK-threads\\n\ninfo threads\necho MARK-pc\\n\np/x $pc\necho MARK-count\\n\np/x *(unsigned int*)0x8000\ndetach\n' \
    "$1" >"$2"
  run_gdb "$2" "$3"
}
mark() { sed -n "/^MARK-$2\$/,\$p" "$1" | sed -n 2p; }
if [[ ! -x $CTL || ! -f $MG/control.qvmconf ]]; then
  ctl_fail "not built (build/bin/qvmctl, build/microguests/control.qvmconf)"
elif ! start_control "$work/q7.log"; then
  ctl_fail "qvm did not start: $(tail -n 3 "$work/q7.log" | tr '\n' ' ')"
else
  # A socket something listens on is not taken over (nor removed).
  python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(1); time.sleep(600)' \
    "$work/live.sock" &
  lpid=$!
  for _ in $(seq 300); do [[ -S $work/live.sock ]] && break; sleep 0.1; done
  "$CTL" gdb mg-control "$work/live.sock" >"$work/ctl0.out" 2>&1
  crc0=$?
  if [[ $crc0 == 1 && -S $work/live.sock && $(cat "$work/ctl0.out") == *"live.sock is in use"* ]] &&
    kill -0 "$lpid" 2>/dev/null &&
    grep -q "live.sock is in use" "$work/q7.log"; then
    result PASS ctl-live
  else
    result FAIL ctl-live "qvmctl gdb on a live socket: exit $crc0 (expected 1): $(cat "$work/ctl0.out") $(grep -m1 'gdb' "$work/q7.log")"
  fi
  kill "$lpid" 2>/dev/null
  wait "$lpid" 2>/dev/null
  before=absent
  [[ -e $res/mg-control.gdb ]] && before=present
  addr=$("$CTL" gdb mg-control 2>"$work/ctl1.err")
  crc=$?
  mode=$(stat -c %a "$addr" 2>/dev/null)
  if [[ $before == absent && $crc == 0 && $addr == "$res/mg-control.gdb" && -S $addr && $mode == 600 ]] &&
    grep -q "gdb: listening on $addr (started through /dev/qvm)" "$work/q7.log"; then
    result PASS ctl-start
  else
    result FAIL ctl-start "socket before: $before, qvmctl gdb exit $crc, printed '$addr' (expected $res/mg-control.gdb), mode $mode: $(cat "$work/ctl1.err")"
  fi
  # `qvmctl list` shows the qvm, not its gdb socket (opening that would
  # attach a debugger: the log would say so).
  "$CTL" list >"$work/list7.out" 2>&1
  if grep -q "^mg-control " "$work/list7.out" && ! grep -q "mg-control.gdb" "$work/list7.out" &&
    ! grep -q "debugger attached" "$work/q7.log"; then
    result PASS ctl-list
  else
    result FAIL ctl-list "$(tr '\n' ' ' <"$work/list7.out" | cut -c1-300)"
  fi
  counter_gdb "$addr" "$work/s7a.gdb" "$work/g7a.out"
  threads=$(sed -n '/^MARK-threads$/,/^MARK-pc$/p' "$work/g7a.out" | grep -cE '^[ *]+[0-9]+ +Thread ')
  pc=$(mark "$work/g7a.out" pc)
  c1=$(mark "$work/g7a.out" count)
  if [[ $threads == 1 && $pc == *"= 0x"* && $c1 == *"= 0x"* ]] && grep -qE "Detaching from program|detached" "$work/g7a.out"; then
    result PASS ctl-attach
  else
    result FAIL ctl-attach "threads $threads (1 vCPU), pc '$pc', counter '$c1': $(tail -n 4 "$work/g7a.out" | tr '\n' ' ' | cut -c1-300)"
  fi
  addr2=$("$CTL" gdb mg-control 2>"$work/ctl2.err")
  crc2=$?
  [[ $crc2 == 0 && $addr2 == "$addr" ]] && result PASS ctl-again ||
    result FAIL ctl-again "second qvmctl gdb: exit $crc2, '$addr2' (first: '$addr'): $(cat "$work/ctl2.err")"
  # The guest ran on after the detach: its counter moved (it only moves
  # while the vCPU runs), seen by a second debugger on the same address.
  counter_gdb "$addr2" "$work/s7b.gdb" "$work/g7b.out"
  c2=$(mark "$work/g7b.out" count)
  if kill -0 "$qpid" 2>/dev/null && [[ $c1 == *"= 0x"* && $c2 == *"= 0x"* && $c2 != "$c1" ]]; then
    result PASS ctl-runs
  else
    result FAIL ctl-runs "counter '$c1' then '$c2', qvm $(kill -0 "$qpid" 2>/dev/null && echo alive || echo gone)"
  fi
  "$CTL" gdb mg-control tcp:1 >"$work/ctl3.out" 2>"$work/ctl3.err"
  crc3=$?
  [[ $crc3 == 1 && $(cat "$work/ctl3.err") == *"already listens on $addr"* && ! -s $work/ctl3.out ]] &&
    result PASS ctl-refuse ||
    result FAIL ctl-refuse "qvmctl gdb with another endpoint: exit $crc3 (expected 1): $(cat "$work/ctl3.err" "$work/ctl3.out")"
  "$CTL" kill mg-control >/dev/null 2>&1
  wait_qvm
  [[ $qrc == 3 && ! -e $addr ]] && result PASS ctl-cleanup ||
    result FAIL ctl-cleanup "qvm exit $qrc (expected 3), socket $([[ -e $addr ]] && echo 'left behind' || echo removed)"
fi

# ---- session 8: a reset keeps the debugger and its software breakpoints ----
# A breakpoint on the image's first byte (0x100000), kept inserted while
# gdb has the guest stopped (nothing executes it: kvm_pvm cannot run an
# intercepted int3), `qvmctl reset` from gdb's shell: the session stays,
# the reloaded image has the breakpoint again (read guest-physical, raw),
# delete puts the reloaded byte back, detach lets the new boot run.
reset_all=(reset-keeps reset-remove reset-runs)
if [[ ! -x $CTL || ! -f $MG/control.qvmconf ]]; then
  for n in "${reset_all[@]}"; do result FAIL "$n" "not built"; done
elif ! start_control "$work/q8.log" || ! addr=$("$CTL" gdb mg-control 2>"$work/ctl8.err"); then
  for n in "${reset_all[@]}"; do
    result FAIL "$n" "qvm or qvmctl gdb failed: $(tail -n 2 "$work/q8.log" "$work/ctl8.err" | tr '\n' ' ')"
  done
else
  cat >"$work/s8.gdb" <<GDB
set pagination off
set confirm off
set code-cache off
set stack-cache off
set breakpoint always-inserted on
target remote $addr
monitor phys on
echo MARK-b0\\n
x/1bx 0x100000
break *0x100000
echo MARK-b1\\n
x/1bx 0x100000
shell "$CTL" reset mg-control
shell for i in \$(seq 1800); do grep -q "the debugger stays attached" "$work/q8.log" && break; sleep 0.1; done
echo MARK-b2\\n
x/1bx 0x100000
delete
echo MARK-b3\\n
x/1bx 0x100000
detach
GDB
  run_gdb "$work/s8.gdb" "$work/g8.out"
  byte() { mark "$work/g8.out" "$1" | awk '{ print $NF }'; }
  b0=$(byte b0) b1=$(byte b1) b2=$(byte b2) b3=$(byte b3)
  if [[ $b1 == 0xcc && $b2 == 0xcc ]] && grep -q "guest reset: restarting in place" "$work/q8.log" &&
    grep -q "1 of 1 software breakpoint(s) planted again; the guest stays stopped" "$work/q8.log"; then
    result PASS reset-keeps
  else
    result FAIL reset-keeps "byte at 0x100000 before/after the reset: '$b1' '$b2' (0xcc: the breakpoint): $(grep -m2 'gdb:' "$work/q8.log" | tr '\n' ' ') $(tail -n 3 "$work/g8.out" | tr '\n' ' ' | cut -c1-300)"
  fi
  [[ $b0 == 0x* && $b0 != 0xcc && $b3 == "$b0" ]] && result PASS reset-remove ||
    result FAIL reset-remove "byte at 0x100000 before the breakpoint '$b0', after delete '$b3'"
  # The new boot runs once gdb detaches: the guest prints "ready" again.
  for _ in $(seq 600); do
    (($(grep -c "control: ready" "$work/q8.log") >= 2)) && break
    kill -0 "$qpid" 2>/dev/null || break
    sleep 0.1
  done
  [[ $(grep -c "control: ready" "$work/q8.log") == 2 ]] && kill -0 "$qpid" 2>/dev/null && result PASS reset-runs ||
    result FAIL reset-runs "the guest did not boot again after the detach: $(tail -n 3 "$work/q8.log" | tr '\n' ' ')"
  "$CTL" kill mg-control >/dev/null 2>&1
  wait_qvm
fi

echo "gdb: $((${#all[@]} - nfail)) of ${#all[@]} checks without failure"
((nfail == 0))
