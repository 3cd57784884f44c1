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
names=(survives responsive rss log)
result() { local v=$1 n=$2; shift 2; echo "RESULT $v native/hostile-scan-$n${*:+ $*}"; }
all() { for n in "${names[@]}"; do result "$@" "$n"; done; }

if [[ ! -x $QVM || ! -x $QVMCTL || ! -f $CONF ]]; then all FAIL "not built (make all microguests)"; exit 0; fi
probe=$root/$BUILD/bin/qvm-kvm-probe
[[ -x $probe ]] || probe=$root/build/bin/qvm-kvm-probe
if ! "$probe" >/dev/null 2>&1; then all SKIP "no usable /dev/kvm"; exit 0; fi

work=$(mktemp -d "${TMPDIR:-/tmp}/qvm-hostile.XXXXXX")
export QVM_RESMGR_DIR=$work/sock
mkdir -p "$QVM_RESMGR_DIR"
qpid=""
trap '[[ -n $qpid ]] && kill -KILL $qpid 2>/dev/null; rm -rf "$work"' EXIT

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
  result PASS survives "$(grep -c 'done' "$work/out") scan phases"
else
  result FAIL survives "exit $rc, expected 1: $(tail -n1 "$work/out") / $(tail -n1 "$work/err")"
fi
if ((bad == 0 && polls > 0)); then
  result PASS responsive "$polls status answers during the scan, slowest ${slowest} ms"
else
  result FAIL responsive "$bad of $((polls + bad)) status requests unanswered within 20 s"
fi
if [[ -n $rss0 && -n $rss1 ]] && ((rss1 - rss0 <= 1024)); then
  result PASS rss "RSS ${rss0} KiB at the start, ${rss1} KiB near the end"
else
  result FAIL rss "RSS ${rss0:-?} KiB at the start, ${rss1:-?} KiB near the end (more than 1 MiB growth, or not sampled)"
fi
bytes=$(wc -c <"$work/err")
if ((bytes <= 16384)); then
  result PASS log "$bytes bytes of log"
else
  result FAIL log "$bytes bytes of log (bound 16384): $(sort "$work/err" | uniq -c | sort -rn | head -n1)"
fi
