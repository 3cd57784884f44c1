#!/usr/bin/env bash
# A hostile guest seen from outside: test/microguests/hostile-scan.s reads
# and writes every I/O port and the MMIO hole below 4 GiB at every width
# while this script watches its qvm:
#   scan-survives     qvm ends with the guest's pass (exit 1): every access
#                     survived and the devices still work afterwards
#   scan-responsive   /dev/qvm answers `qvmctl status` throughout the scan
#                     (each answer bounded by 20 s: loaded CI hosts; the
#                     slowest answer is printed)
#   scan-rss          qvm's RSS grows by at most 1 MiB between the start of
#                     the scan and its end
#   scan-log          qvm's log (stderr) stays under 16 KiB: guest-caused
#                     lines are rate-limited
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
NAME=mg-hostile-scan
names=(scan-survives scan-responsive scan-rss scan-log churn-sequential churn-parallel churn-leftovers)
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
seen() { grep -q -- "$1" "$work/out" 2>/dev/null; }

timeout -s KILL 900 "$QVM" "@$CONF" </dev/null >"$work/out" 2>"$work/err" &
qpid=$!
# the scan has started once the guest says so (bounded wait)
for ((i = 0; i < 1200; i++)); do
  seen "hostile-scan: ports" && break
  kill -0 $qpid 2>/dev/null || break
  sleep 0.1
done
rss0=$(rss $qpid)
polls=0 bad=0 slowest=0 rss1=""
while kill -0 $qpid 2>/dev/null; do
  t0=$(date +%s%N)
  if timeout 20 "$QVMCTL" status "$NAME" >/dev/null 2>&1; then
    ms=$((($(date +%s%N) - t0) / 1000000))
    ((ms > slowest)) && slowest=$ms
    polls=$((polls + 1))
  elif kill -0 $qpid 2>/dev/null && ! seen "PASS hostile-scan"; then
    bad=$((bad + 1))
  fi
  # the last sample before the guest's verdict
  seen "0xc0000000-0xffffffff done" || rss1=$(rss $qpid)
  sleep 1
done
wait $qpid
rc=$?
qpid=""

if [[ $rc == 1 ]] && seen "PASS hostile-scan"; then
  result PASS scan-survives "$(grep -c 'done' "$work/out") scan phases"
else
  result FAIL scan-survives "exit $rc, expected 1: $(tail -n1 "$work/out") / $(tail -n1 "$work/err")"
fi
if ((bad == 0 && polls > 0)); then
  result PASS scan-responsive "$polls status answers during the scan, slowest ${slowest} ms"
else
  result FAIL scan-responsive "$bad of $((polls + bad)) status requests unanswered within 20 s"
fi
if [[ -n $rss0 && -n $rss1 ]] && ((rss1 - rss0 <= 1024)); then
  result PASS scan-rss "RSS ${rss0} KiB at the start, ${rss1} KiB near the end"
else
  result FAIL scan-rss "RSS ${rss0:-?} KiB at the start, ${rss1:-?} KiB near the end (more than 1 MiB growth, or not sampled)"
fi
bytes=$(wc -c <"$work/err")
if ((bytes <= 16384)); then
  result PASS scan-log "$bytes bytes of log"
else
  result FAIL scan-log "$bytes bytes of log (bound 16384): $(sort "$work/err" | uniq -c | sort -rn | head -n1)"
fi

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
