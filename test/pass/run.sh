#!/usr/bin/env bash
# `pass loc mem` and `pass loc io` end to end: micro-guests
# (test/microguests/pass-*.s) in qvm on this machine's /dev/kvm, with a host
# side that shares the memory and reads the same ports:
#   mem-file   a host file passed as guest memory: the host's words are
#              read by the guest, the guest's words are read by the host
#              while the guest runs, then the host writes and the guest
#              reads; a read-only pass is not changed by a guest write
#   mem-shm    the same through a POSIX shared-memory object (=shm:NAME)
#   io         the host's CMOS ports 0x70/0x71: CMOS register D read by the
#              guest (IN, REP INSB, OUTSB) equals what the host reads
#              through /dev/port; SKIP without root, without ioperm(2) in
#              the host kernel (CONFIG_X86_IOPL_IOPERM) or, for the host
#              comparison, without /dev/port
#   io-refused without CAP_SYS_RAWIO qvm refuses `pass loc io` at its token
#              (exit 65); as root, CAP_SYS_RAWIO is dropped with setpriv
# Prints RESULT PASS|FAIL|SKIP native/pass-NAME [why]. Nothing is timed; the
# waits are generous bounds for loaded hosts.
set -u
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root" || exit 1
BUILD=${BUILD:-build}
QVM=$root/$BUILD/bin/qvm
MG=$root/$BUILD/microguests
PROBE=$root/$BUILD/bin/qvm-kvm-probe
export QVM_RESMGR_DIR=${QVM_RESMGR_DIR:-$(mktemp -d /tmp/qvm-pass.XXXXXX)}
work=$(mktemp -d "${TMPDIR:-/tmp}/qvm-pass-test.XXXXXX")
shm=qvm-pass-test-$$
qpid=""
cleanup() {
  [[ -n $qpid ]] && kill -KILL "$qpid" 2>/dev/null
  wait 2>/dev/null
  rm -f "/dev/shm/$shm"
  rm -rf "$work"
}
trap cleanup EXIT

result() {  # verdict name why...
  local v=$1 n=$2
  shift 2
  echo "RESULT $v native/pass-$n${*:+ $*}"
}

tests="mem-file mem-shm io io-refused"
if [[ ! -x $QVM || ! -f $MG/pass-mem.bin || ! -f $MG/pass-io.bin || ! -x $PROBE ]]; then
  for n in $tests; do result FAIL "$n" "not built (make all)"; done
  exit 0
fi
if ! "$PROBE" >/dev/null 2>&1; then
  for n in $tests; do result SKIP "$n" "no usable /dev/kvm"; done
  exit 0
fi

# The host side of pass-mem.s, in Python (the layout is in its header).
cat > "$work/host.py" <<'PY'
import struct, sys, time
def words(first): return b"".join(struct.pack("<I", first + i) for i in range(16))
cmd, path = sys.argv[1], sys.argv[2]
if cmd == "init":
    a = bytearray(0x2000); a[0:4] = b"HOST"; a[0x100:0x140] = words(0xA5000000)
    open(path, "wb").write(a)
    b = bytearray(0x1000); b[0:4] = b"RDON"; open(sys.argv[3], "wb").write(b)
elif cmd == "answer":   # wait for "GUES", check the guest's words, answer
    for _ in range(int(sys.argv[3]) * 10):
        with open(path, "rb") as f:
            d = f.read(0x2000)
        if d[4:8] == b"GUES":
            break
        time.sleep(0.1)
    else:
        sys.exit("the guest never wrote its words")
    if d[0x200:0x240] != words(0x5A000000):
        sys.exit("the guest's words differ: " + d[0x200:0x240].hex())
    with open(path, "r+b") as f:
        f.seek(0x300); f.write(words(0xC3000000)); f.flush()
        f.seek(8); f.write(b"LIVE")
    print("host: guest words read, live words written")
PY

# run_mem NAME HOSTSPEC FILE: pass-mem.s with region A at HOSTSPEC (FILE
# is the same object as the host sees it) and region B a read-only file.
run_mem() {
  local name=$1 spec=$2 file=$3 log=$work/$1.log
  python3 "$work/host.py" init "$file" "$work/ro.dat" || { result FAIL "$name" "host init"; return; }
  cat > "$work/$name.qvmconf" <<CONF
system mg-pass-$name
ram 16M
load 0x100000,$MG/pass-mem.bin
vdev ioapic
vdev ser8250 hostdev >-
vdev debug-exit
pass loc mem:0x2000000,0x2000,rwx=$spec
pass loc mem:0x2010000,0x1000,rx=file:$work/ro.dat
CONF
  timeout -s KILL 300 "$QVM" "@$work/$name.qvmconf" </dev/null >"$log" 2>&1 &
  qpid=$!
  local host_ok=1 why=""
  why=$(python3 "$work/host.py" answer "$file" 240 2>&1) || host_ok=0
  wait "$qpid"
  local rc=$?
  qpid=""
  local ro
  ro=$(head -c 4 "$work/ro.dat")
  if [[ $host_ok != 1 ]]; then
    result FAIL "$name" "host side: $why; qvm exit $rc: $(tail -3 "$log" | tr '\n' ' ')"
  elif [[ $rc != 1 ]] || ! grep -q "PASS pass-mem" "$log"; then
    result FAIL "$name" "qvm exit $rc (want 1): $(tail -3 "$log" | tr '\n' ' ')"
  elif [[ $ro != RDON ]]; then
    result FAIL "$name" "the read-only file changed: $ro"
  else
    result PASS "$name" "both directions, live; read-only pass kept"
  fi
}

run_mem mem-file "file:$work/shared.dat" "$work/shared.dat"
# The shm object is created before qvm starts so that the host's words are
# there; qvm opens the same object.
: > "/dev/shm/$shm" 2>/dev/null
if [[ -e /dev/shm/$shm ]]; then
  run_mem mem-shm "shm:$shm" "/dev/shm/$shm"
else
  result SKIP mem-shm "no /dev/shm to create the object in"
fi

# Port passthrough.
cat > "$work/io.qvmconf" <<CONF
system mg-pass-io
ram 16M
load 0x100000,$MG/pass-io.bin
vdev ioapic
vdev ser8250 hostdev >-
vdev debug-exit
pass loc io:0x70,2
CONF
refusal="io.qvmconf:7:10: \`pass loc io\`: qvm may not access host ports 0x70-0x71 (needs root or CAP_SYS_RAWIO)"
noioperm="the host kernel has no ioperm(2)"
if [[ $(id -u) != 0 ]]; then
  result SKIP io "not root (host ports need root or CAP_SYS_RAWIO)"
  timeout -s KILL 120 "$QVM" "@$work/io.qvmconf" </dev/null >"$work/io-refused.log" 2>&1
  rc=$?
  if grep -q "$noioperm" "$work/io-refused.log"; then
    result SKIP io-refused "$noioperm"
  elif [[ $rc == 65 ]] && grep -qF "$refusal" "$work/io-refused.log"; then
    result PASS io-refused "exit 65 at the token"
  else
    result FAIL io-refused "exit $rc: $(tail -2 "$work/io-refused.log" | tr '\n' ' ')"
  fi
  exit 0
fi
timeout -s KILL 120 "$QVM" "@$work/io.qvmconf" </dev/null >"$work/io.log" 2>&1
rc=$?
if grep -q "$noioperm" "$work/io.log"; then
  result SKIP io "$noioperm (CONFIG_X86_IOPL_IOPERM)"
  result SKIP io-refused "$noioperm"
  exit 0
fi
if [[ $rc != 1 ]] || ! grep -q "PASS pass-io" "$work/io.log"; then
  result FAIL io "qvm exit $rc (want 1): $(tail -3 "$work/io.log" | tr '\n' ' ')"
else
  guest=$(sed -n 's/^pass-io: cmos register d = 0x000000\(..\).*/\1/p' "$work/io.log")
  if [[ ! -c /dev/port ]]; then
    result SKIP io "the guest's three reads agree (0x$guest); no /dev/port to compare with the host"
  else
    printf '\x0d' | dd of=/dev/port bs=1 seek=$((0x70)) conv=notrunc status=none
    host=$(dd if=/dev/port bs=1 skip=$((0x71)) count=1 status=none | od -An -tx1 | tr -d ' \n')
    if [[ -n $guest && $guest == "$host" ]]; then
      result PASS io "CMOS register D 0x$guest in the guest and on the host"
    else
      result FAIL io "guest read 0x$guest, the host 0x$host"
    fi
  fi
fi
if ! command -v setpriv >/dev/null; then
  result SKIP io-refused "no setpriv to drop CAP_SYS_RAWIO"
  exit 0
fi
timeout -s KILL 120 setpriv --inh-caps=-all --bounding-set=-sys_rawio \
  "$QVM" "@$work/io.qvmconf" </dev/null >"$work/io-refused.log" 2>&1
rc=$?
if [[ $rc == 65 ]] && grep -qF "$refusal" "$work/io-refused.log"; then
  result PASS io-refused "exit 65 at the token"
else
  result FAIL io-refused "exit $rc: $(tail -2 "$work/io-refused.log" | tr '\n' ' ')"
fi
