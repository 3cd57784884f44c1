#!/usr/bin/env bash
# Runs the micro-guest table (test/microguests/tests.tsv) against qvm on this
# machine's /dev/kvm through the table runner (table.sh, the same one the
# x86_64 lane runs inside its emulated host) and prints one line per test:
#   RESULT PASS native/NAME
#   RESULT FAIL native/NAME <why>
#   RESULT SKIP native/NAME no usable /dev/kvm
# then a summary "microguests: N passed, M failed, K skipped".
#
# Usage: test/microguests/run.sh [NAME ...]     (default: every row)
# Environment: BUILD (default build), QVM (default $BUILD/bin/qvm),
#              TIMEOUT seconds per test (default 30).
# Logs (qvm's stdout + stderr, stdin is /dev/null): $BUILD/test-logs/microguests/NAME.log
# Exit status: 0 when nothing failed (skips included), 1 otherwise.
set -u

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root" || exit 1
# Each run gets its own /dev/qvm-style directory so that parallel runs of
# the same guest (same `system` name) never collide.
export QVM_RESMGR_DIR=${QVM_RESMGR_DIR:-$(mktemp -d /tmp/qvm-mg.XXXXXX)}
BUILD=${BUILD:-build}
QVM=${QVM:-$BUILD/bin/qvm}
TIMEOUT=${TIMEOUT:-30}
table=test/microguests/tests.tsv
runner=test/microguests/table.sh
guests=$BUILD/microguests
logs=$BUILD/test-logs/microguests
probe=$BUILD/bin/qvm-kvm-probe

mkdir -p "$logs"
npass=0 nfail=0 nskip=0

result() {  # verdict name why...
  local v=$1 n=$2
  shift 2
  echo "RESULT $v native/$n${*:+ $*}"
  case $v in
    PASS) npass=$((npass + 1)) ;;
    FAIL) nfail=$((nfail + 1)) ;;
    SKIP) nskip=$((nskip + 1)) ;;
  esac
}

# Is KVM usable? The probe opens /dev/kvm, checks KVM_GET_API_VERSION == 12
# and runs a 4-byte guest. A missing probe is a build error, not a skip.
why=""
if [[ ! -x "$probe" ]]; then
  why="FAIL $probe not built (make microguests)"
elif ! probe_out=$("$probe" 2>&1); then
  why="SKIP no usable /dev/kvm"
  echo "microguests: $probe_out" >&2
elif [[ ! -x "$QVM" ]]; then
  why="FAIL $QVM not built"
fi

# Rows that need the accelerator to report a level vector's EOI
# (KVM_EXIT_IOAPIC_EOI) when the guest writes it. kvm_pvm reports it late,
# at the next interrupt injection (an exit trace shows the EOI exit at the
# next handler's first instructions), so the IOAPIC sees the EOI before the
# handler cleared the source and rightly delivers again: those rows are
# skipped there with the reason, and run in the emulated-host lanes.
# Rows that execute XSAVE/XRSTOR in the guest's kernel mode, which kvm_pvm
# runs through KVM's instruction emulator; the emulator has no XSAVE (an
# emulation failure, "KVM internal error, suberror 1"). The lane runs them.
late_eoi=""
no_xsave=""
if [[ -e /sys/module/kvm_pvm ]]; then
  late_eoi="irq-level"
  no_xsave="smp-xsave"
fi

# Rows wdt-dump and wdt-dump-loop: the table checks qvm's exit code and
# log; the guest dump they make (`dump .`: beside the config, one file
# each: wdt-dump-loop's later expiries come within 10 s and get none) is
# checked here, and removed. check_dump SYSTEM
check_dump() {
  local files=("$guests/$1"-*.gcore) f
  [[ -e ${files[0]} ]] || { echo "no $1-*.gcore in $guests"; return 1; }
  ((${#files[@]} == 1)) || { echo "${#files[@]} dumps $1-* in $guests, expected 1"; return 1; }
  f=${files[0]}
  [[ ${f##*/} =~ ^$1-[0-9]{8}-[0-9]{6}\.gcore$ ]] || { echo "dump name ${f##*/}"; return 1; }
  readelf -h "$f" 2>/dev/null | grep -q "CORE (Core file)" || { echo "${f##*/}: not an ELF core"; return 1; }
  readelf -n "$f" 2>/dev/null | grep -q NT_PRSTATUS || { echo "${f##*/}: no NT_PRSTATUS note"; return 1; }
  grep -a -q -F "qvm-wdt-dump-marker-in-guest-ram" "$f" ||
    { echo "${f##*/}: the guest's marker is not in the dumped memory"; return 1; }
  rm -f "$f"
}
rm -f "$guests"/mg-wdt-dump-*.gcore "$guests"/mg-wdtloop-*.gcore

if [[ -n $why ]]; then
  while read -r name; do result $why "$name"; done < <(sh "$runner" -l "$table" "$guests" "$@")
else
  rows=()
  while read -r name; do
    if [[ " $late_eoi " == *" $name "* ]]; then
      result SKIP "$name" "kvm_pvm reports the guest's IOAPIC EOI late (at the next interrupt); run in the x86_64 lane"
    elif [[ " $no_xsave " == *" $name "* ]]; then
      result SKIP "$name" "kvm_pvm emulates guest kernel code and KVM's emulator has no XSAVE; run in the x86_64 lane"
    else
      rows+=("$name")
    fi
  done < <(sh "$runner" -l "$table" "$guests" "$@")
  if ((${#rows[@]})); then
    while read -r tag v name detail; do
      [[ $tag == MGTEST ]] || continue
      if [[ $v == PASS ]]; then
        case $name in
          wdt-dump) detail=$(check_dump mg-wdt-dump) || v=FAIL ;;
          wdt-dump-loop) detail=$(check_dump mg-wdtloop) || v=FAIL ;;
        esac
      fi
      result "$v" "$name" $detail
    done < <(QVM=$QVM MG_TIMEOUT=$TIMEOUT MG_LOGDIR=$logs sh "$runner" "$table" "$guests" "${rows[@]}")
  fi
fi

if [[ $why == SKIP* ]]; then
  echo "microguests: /dev/kvm is not usable here; tests skipped, not passed" >&2
fi
echo "microguests: $npass passed, $nfail failed, $nskip skipped"
((nfail == 0))
