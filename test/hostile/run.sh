#!/usr/bin/env bash
# Hostile guests seen from outside. Each micro-guest below runs while this
# script watches its qvm (`watch`): TAG-survives (qvm ends with the guest's
# pass, exit 1: every access survived and the devices still work),
# TAG-responsive (/dev/qvm answers `qvmctl status` once a second
# throughout, each answer bounded by 20 s: loaded CI hosts; the slowest is
# printed), TAG-rss (qvm's RSS grows by at most 1 MiB from the guest's
# first progress line to its last) and TAG-log (qvm's log, its stderr,
# stays under 16 KiB: guest-caused lines are rate-limited). Guests (what
# each does is said at the top of test/microguests/NAME.s):
#   scan   hostile-scan: every I/O port and the MMIO hole below 4 GiB at
#          every width
#   virtq  hostile-virtq: malformed virtqueues against virtio-entropy,
#          -blk and -net; each refused (NEEDS_RESET), each device working
#          again after a reset
#   regs   hostile-regs: 100,000 register accesses on every legacy device
#          of the PC machine, then hostile fw-cfg DMA descriptors
#   pci    hostile-pci: 100,000 on each PCI function's BAR 0 (MSI-X tables
#          included), on its configuration space (CF8/CFC and ECAM), and
#          on pci-host's ports
#   msr    hostile-msr: every MSR of three ranges read and written (#GP
#          skipped), CPUID of 198,147 leaf/subleaf pairs
#   uart   hostile-uart: 256 KiB written to COM1 as fast as the guest can;
#          also uart-bytes: the output holds every byte, in order
# and `cli; hlt` forever (hostile-hlt, not in tests.tsv: it never ends):
#   hlt-responsive    five `qvmctl status` answers with the vCPU halted
#   hlt-dump          `qvmctl dump` writes an ELF core
#   hlt-idle          qvm uses less than half a CPU over 5 s while halted
#                     (a spinning thread would use a whole one; a slow host
#                     only lowers the figure)
#   hlt-kill          `qvmctl kill` ends it with QNX's exit code 3
# and VMs started and stopped in numbers (each with virtio-entropy, -blk,
# -net on a peer endpoint and -console beside the PC devices):
#   churn-sequential  50 VMs back to back (the `pio` guest), each exit 1
#   churn-parallel    8 at once (the `control` guest, which runs until
#                     stopped): the same thread and fd counts in each, then
#                     `qvmctl kill` ends each with exit 3
#   churn-leftovers   afterwards no qvm process, no socket under the
#                     runtime directory or in /proc/net/unix naming it, and
#                     no new /dev/shm object
# Prints RESULT PASS|FAIL|SKIP native/hostile-NAME [detail]; SKIP without a
# usable /dev/kvm. BUILD picks the tree (build/san for the sanitizer lane).
set -u
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root" || exit 1
BUILD=${BUILD:-build}
QVM=$root/$BUILD/bin/qvm
QVMCTL=$root/$BUILD/bin/qvmctl
CONF=$root/$BUILD/microguests/hostile-scan.qvmconf
names=()
for t in scan virtq regs pci msr uart; do names+=("$t-survives" "$t-responsive" "$t-rss" "$t-log"); done
names+=(uart-bytes hlt-responsive hlt-dump hlt-idle hlt-kill churn-sequential churn-parallel churn-leftovers)
result() { local v=$1 n=$2; shift 2; echo "RESULT $v native/hostile-$n${*:+ $*}"; }
all() { for n in "${names[@]}"; do result "$@" "$n"; done; }

if [[ ! -x $QVM || ! -x $QVMCTL || ! -f $CONF ]]; then all FAIL "not built (make all microguests)"; exit 0; fi
probe=$root/$BUILD/bin/qvm-kvm-probe
[[ -x $probe ]] || probe=$root/build/bin/qvm-kvm-probe
if ! "$probe" >/dev/null 2>&1; then all SKIP "no usable /dev/kvm"; exit 0; fi

work=$(mktemp -d "${TMPDIR:-/tmp}/qvm-hostile.XXXXXX")
export QVM_RESMGR_DIR=$work/sock
mkdir -p "$QVM_RESMGR_DIR"
qpid=""
pids=()
trap '[[ -n $qpid ]] && kill -KILL $qpid 2>/dev/null; for p in "${pids[@]}"; do kill -KILL $p 2>/dev/null; done; rm -rf "$work"' EXIT

rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null; }
seen() { grep -a -q -- "$1" "$work/out" 2>/dev/null; }
cputicks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null; }

# watch GUEST TAG START END [SECS]: runs build/microguests/GUEST.qvmconf
# (stdout $work/out, log $work/err) and, until qvm ends, asks `qvmctl
# status` once a second (each answer bounded by 20 s) and samples RSS from
# the guest's START line to its END line; then prints TAG-survives (exit 1
# and "PASS GUEST"), TAG-responsive, TAG-rss (at most 1 MiB growth) and
# TAG-log (qvm's log at most 16 KiB).
watch() {
  local guest=$1 tag=$2 start=$3 end=$4 secs=${5:-900}
  local conf=$root/$BUILD/microguests/$guest.qvmconf sys="mg-$guest"
  timeout -s KILL "$secs" "$QVM" "@$conf" </dev/null >"$work/out" 2>"$work/err" &
  qpid=$!
  local i r
  for ((i = 0; i < 1200; i++)); do  # the guest reached START (bounded wait)
    seen "$start" && break
    kill -0 $qpid 2>/dev/null || break
    sleep 0.1
  done
  # RSS of qvm itself, timeout's child (the last sample before END; a
  # guest that ends before a second sample leaves the first)
  local vpid rss0 rss1 polls=0 bad=0 slowest=0 t0 ms samples=1
  vpid=$(pgrep -P $qpid -x qvm | head -n1)
  rss0=$(rss "${vpid:-none}")
  rss1=$rss0
  while kill -0 $qpid 2>/dev/null; do
    t0=$(date +%s%N)
    if timeout 20 "$QVMCTL" status "$sys" >/dev/null 2>&1; then
      ms=$((($(date +%s%N) - t0) / 1000000))
      ((ms > slowest)) && slowest=$ms
      polls=$((polls + 1))
    elif kill -0 $qpid 2>/dev/null && ! seen "PASS $guest"; then
      bad=$((bad + 1))
    fi
    # the last sample before the guest's verdict
    if ! seen "$end" && [[ -n $vpid ]] && r=$(rss "$vpid") && [[ -n $r ]]; then
      rss1=$r
      samples=$((samples + 1))
    fi
    sleep 1
  done
  wait $qpid
  local rc=$?
  qpid=""
  if [[ $rc == 1 ]] && seen "PASS $guest"; then
    result PASS "$tag-survives" "$(grep -a -c "^$guest: " "$work/out") progress lines, the last: $(grep -a "^$guest: " "$work/out" | tail -n1)"
  else
    result FAIL "$tag-survives" "exit $rc, expected 1: $(grep -a -v '^[[:space:]]*$' "$work/out" | tail -n1 | cut -c1-200) / $(tail -n1 "$work/err")"
  fi
  if ((bad == 0 && polls > 0)); then
    result PASS "$tag-responsive" "$polls status answers while the guest ran, slowest ${slowest} ms"
  else
    result FAIL "$tag-responsive" "$bad of $((polls + bad)) status requests unanswered within 20 s"
  fi
  if [[ -n $rss0 && -n $rss1 ]] && ((rss1 - rss0 <= 1024)); then
    result PASS "$tag-rss" "qvm's RSS ${rss0} KiB at the start, ${rss1} KiB near the end ($samples samples)"
  else
    result FAIL "$tag-rss" "RSS ${rss0:-?} KiB at the start, ${rss1:-?} KiB near the end (more than 1 MiB growth, or not sampled)"
  fi
  local bytes
  bytes=$(wc -c <"$work/err")
  if ((bytes <= 16384)); then
    result PASS "$tag-log" "$bytes bytes of log"
  else
    result FAIL "$tag-log" "$bytes bytes of log (bound 16384): $(sort "$work/err" | uniq -c | sort -rn | head -n1)"
  fi
}

watch hostile-scan scan "hostile-scan: ports" "0xc0000000-0xffffffff done"
watch hostile-virtq virtq "hostile-virtq: " "malformed queues refused"
watch hostile-regs regs "hostile-regs: " "register accesses, devices still work"
watch hostile-pci pci "hostile-pci: " "register accesses, devices still work"
watch hostile-msr msr "hostile-msr: " "CPUID leaf/subleaf pairs"
watch hostile-uart uart "hostile-uart: flood" "bytes written"
# every byte of the flood, in order: 4096 lines of 63 times 'A' + k % 26
bad=$(awk 'BEGIN { k = 0; bad = 0 }
  /^[A-Z]+$/ { want = sprintf("%c", 65 + k % 26); line = ""; for (i = 0; i < 63; i++) line = line want
               if ($0 != line) bad++; k++ }
  END { if (k != 4096) bad += 4096; print bad }' "$work/out")
n=$(grep -a -c '^[A-Z]*$' "$work/out")
if [[ $bad == 0 ]]; then result PASS uart-bytes "all 262144 bytes of the flood in the output, in order"
else result FAIL uart-bytes "$n flood lines of 4096, $bad wrong or missing"; fi

# ---- cli; hlt forever --------------------------------------------------------
mkdir -p "$work/hlt"
(cd "$work/hlt" && exec timeout -s KILL 300 "$QVM" "@$root/$BUILD/microguests/hostile-hlt.qvmconf" </dev/null >"$work/out" 2>"$work/err") &
qpid=$!
for ((i = 0; i < 1200; i++)); do
  seen "hostile-hlt: cli; hlt forever" && break
  kill -0 $qpid 2>/dev/null || break
  sleep 0.1
done
q=$(pgrep -P "$qpid" -x qvm | head -n1)
why="" polls=0
for ((i = 0; i < 5; i++)); do
  if timeout 20 "$QVMCTL" status mg-hostile-hlt >/dev/null 2>&1; then polls=$((polls + 1)); else why+=" status-$i-unanswered"; fi
  sleep 1
done
if [[ -z $why ]]; then result PASS hlt-responsive "$polls status answers with the vCPU halted"
else result FAIL hlt-responsive "$why"; fi
dumpout=$(timeout 60 "$QVMCTL" dump mg-hostile-hlt 2>&1)
core=$(find "$work/hlt" -name 'mg-hostile-hlt-*.gcore' | head -n1)
if [[ -n $core ]] && [[ $(head -c4 "$core" | od -An -c | tr -d ' ') == '177ELF' ]]; then
  result PASS hlt-dump "qvmctl dump wrote $(basename "$core") ($(wc -c <"$core") bytes)"
else
  result FAIL hlt-dump "no ELF core in $work/hlt: $dumpout"
fi
if [[ -n $q ]]; then
  c0=$(cputicks "$q") w0=$(date +%s%N)
  sleep 5
  c1=$(cputicks "$q") w1=$(date +%s%N)
  hz=$(getconf CLK_TCK)
  used_ms=$(((c1 - c0) * 1000 / hz)) wall_ms=$(((w1 - w0) / 1000000))
  if ((used_ms * 2 < wall_ms)); then result PASS hlt-idle "qvm used ${used_ms} ms of CPU in ${wall_ms} ms with the vCPU halted"
  else result FAIL hlt-idle "qvm used ${used_ms} ms of CPU in ${wall_ms} ms with the vCPU halted (spinning?)"; fi
else
  result FAIL hlt-idle "qvm not found (exit: $(tail -n1 "$work/err"))"
fi
timeout 60 "$QVMCTL" kill mg-hostile-hlt >/dev/null 2>&1
wait $qpid
rc=$?
qpid=""
if [[ $rc == 3 ]]; then result PASS hlt-kill "qvmctl kill: exit 3"
else result FAIL hlt-kill "exit $rc after qvmctl kill, expected 3: $(tail -n1 "$work/err")"; fi

# ---- churn -----------------------------------------------------------------
MG=$root/$BUILD/microguests
shm0=$(ls /dev/shm | grep -c qvm)
mkconf() {  # NAME GUEST: $work/NAME.qvmconf (and its own disk: a disk has one writer)
  truncate -s 1M "$work/$1.img"
  cat >"$work/$1.qvmconf" <<EOF
system $1
ram 16M
load 0x100000,$MG/$2.bin
unsupported ignore
vdev ioapic
vdev acpi-pm
vdev mc146818
vdev ser8250 hostdev >-
vdev debug-exit
vdev virtio-entropy
vdev virtio-blk hostdev $work/$1.img
vdev virtio-net peer $1-net
vdev virtio-console
EOF
}
bad=""
for ((i = 1; i <= 50; i++)); do
  mkconf "churn-$i" pio
  timeout -s KILL 120 "$QVM" "@$work/churn-$i.qvmconf" </dev/null >"$work/c.out" 2>"$work/c.err"
  rc=$?
  [[ $rc == 1 ]] || bad+=" churn-$i:exit-$rc"
done
if [[ -z $bad ]]; then result PASS churn-sequential "50 VMs, each exit 1"
else result FAIL churn-sequential "$bad"; fi

for ((i = 1; i <= 8; i++)); do
  mkconf "churn-c$i" control
  timeout -s KILL 600 "$QVM" "@$work/churn-c$i.qvmconf" </dev/null >"$work/c$i.out" 2>"$work/c$i.err" &
  pids+=($!)
done
why=""
for ((i = 1; i <= 8; i++)); do
  for ((t = 0; t < 1200; t++)); do
    grep -q "control: counted" "$work/c$i.out" 2>/dev/null && break
    kill -0 "${pids[$((i - 1))]}" 2>/dev/null || break
    sleep 0.1
  done
  grep -q "control: counted" "$work/c$i.out" || why+=" churn-c$i:not-running($(tail -n1 "$work/c$i.err"))"
done
counts=""
for p in "${pids[@]}"; do
  q=$(pgrep -P "$p" -x qvm | head -n1)  # timeout's child
  [[ -n $q ]] || continue
  counts+="$(ls "/proc/$q/task" | wc -l)/$(ls "/proc/$q/fd" | wc -l) "
done
distinct=$(tr ' ' '\n' <<<"$counts" | grep -c . )
uniq_counts=$(tr ' ' '\n' <<<"$counts" | grep . | sort -u | tr '\n' ' ')
((distinct == 8)) || why+=" only $distinct of 8 sampled"
[[ $(wc -w <<<"$uniq_counts") == 1 ]] || why+=" threads/fds differ: $uniq_counts"
for ((i = 1; i <= 8; i++)); do timeout 60 "$QVMCTL" kill "churn-c$i" >/dev/null 2>&1 || why+=" kill-c$i-failed"; done
for ((i = 0; i < 8; i++)); do
  wait "${pids[$i]}"
  rc=$?
  [[ $rc == 3 ]] || why+=" churn-c$((i + 1)):exit-$rc"
done
pids=()
if [[ -z $why ]]; then result PASS churn-parallel "8 VMs at once, each ${uniq_counts% } threads/fds, each ended by qvmctl kill (exit 3)"
else result FAIL churn-parallel "$why"; fi

left=""
n=$(pgrep -f -- "$work/churn" | wc -l)
((n == 0)) || left+=" $n qvm processes"
n=$(find "$QVM_RESMGR_DIR" -type s | wc -l)
((n == 0)) || left+=" $n sockets under $QVM_RESMGR_DIR: $(find "$QVM_RESMGR_DIR" -type s | head -n3 | tr '\n' ' ')"
n=$(grep -c -- "$work" /proc/net/unix)
((n == 0)) || left+=" $n unix sockets in /proc/net/unix"
n=$(($(ls /dev/shm | grep -c qvm) - shm0))
((n <= 0)) || left+=" $n new /dev/shm objects"
if [[ -z $left ]]; then result PASS churn-leftovers "no process, socket or shared-memory object left after 58 VMs"
else result FAIL churn-leftovers "$left"; fi
