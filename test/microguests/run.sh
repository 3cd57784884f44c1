#!/usr/bin/env bash
# Runs the micro-guest table (test/microguests/tests.tsv) against qvm on this
# machine's /dev/kvm and prints one line per test:
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
guests=$BUILD/microguests
logs=$BUILD/test-logs/microguests
probe=$BUILD/bin/qvm-kvm-probe

mkdir -p "$logs"
npass=0 nfail=0 nskip=0

# Rows to run: name config exit contains absent maxlog
declare -a rows=()
while IFS= read -r line; do
  [[ -z "$line" || "$line" == \#* ]] && continue
  rows+=("$line")
done < "$table"

FILTER=("$@")
selected() {
  local want
  for want in "${FILTER[@]}"; do [[ "$want" == "$1" ]] && return 0; done
  return 1
}

# Is KVM usable? The probe opens /dev/kvm, checks KVM_GET_API_VERSION == 12
# and runs a 4-byte guest. A missing probe is a build error, not a skip.
kvm_ok=1 kvm_why=""
if [[ ! -x "$probe" ]]; then
  kvm_ok=0 kvm_why="missing"
elif ! probe_out=$("$probe" 2>&1); then
  kvm_ok=0 kvm_why="unusable"
  echo "microguests: $probe_out" >&2
fi

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

# The guest's own verdict line, or qvm's last message, to explain a failure.
explain() {
  local log=$1 l
  l=$(grep -a -o -m1 -E 'FAIL [^ ]+ check [0-9]+:.*' "$log" 2>/dev/null | tr -d '\r' | cut -c1-200)
  [[ -z "$l" ]] && l=$(grep -a -v '^\s*$' "$log" 2>/dev/null | tail -n 1 | tr -d '\r' | cut -c1-200)
  [[ -n "$l" ]] && printf '(log: %s)' "$l"
}

for row in "${rows[@]}"; do
  IFS=$'\t' read -r name config want contains absent maxlog <<< "$row"
  [[ -z "${name:-}" ]] && continue
  ((${#FILTER[@]})) && ! selected "$name" && continue
  if ((!kvm_ok)); then
    if [[ $kvm_why == missing ]]; then
      result FAIL "$name" "$probe not built (make microguests)"
    else
      result SKIP "$name" "no usable /dev/kvm"
    fi
    continue
  fi
  cfg=$guests/$config
  log=$logs/$name.log
  if [[ ! -x "$QVM" ]]; then
    result FAIL "$name" "$QVM not built"
    continue
  fi
  if [[ ! -f "$cfg" ]]; then
    result FAIL "$name" "$cfg not built (make microguests)"
    continue
  fi
  start=$(date +%s%N)
  # Guest output (stdout) and qvm's log (stderr) are written by different
  # threads: keep them apart so a log line can never split a guest line,
  # then append the log to the guest output for the checks below.
  timeout -k 5 "$TIMEOUT" "$QVM" "@$cfg" < /dev/null > "$log" 2> "$log.err"
  rc=$?
  cat "$log.err" >> "$log" && rm -f "$log.err"
  ms=$((($(date +%s%N) - start) / 1000000))
  why=""
  if ((rc == 124 || rc == 137)); then
    why="timed out after ${TIMEOUT}s"
  elif [[ "$rc" != "$want" ]]; then
    why="exit $rc, expected $want"
    ((rc > 128 && rc < 160)) && why="$why (killed by signal $((rc - 128)))"
  fi
  if [[ -z "$why" && -n "${contains:-}" && "$contains" != "-" ]]; then
    IFS='|' read -r -a parts <<< "$contains"
    for s in "${parts[@]}"; do
      if ! grep -a -q -F -- "$s" "$log"; then why="output lacks \"$s\""; break; fi
    done
  fi
  if [[ -z "$why" && -n "${absent:-}" && "$absent" != "-" ]]; then
    IFS='|' read -r -a parts <<< "$absent"
    for s in "${parts[@]}"; do
      if grep -a -q -F -- "$s" "$log"; then why="output contains \"$s\""; break; fi
    done
  fi
  if [[ -z "$why" && -n "${maxlog:-}" && "$maxlog" != "-" ]]; then
    size=$(stat -c %s "$log")
    ((size > maxlog)) && why="log is $size bytes, limit $maxlog (rate limiting?)"
  fi
  if [[ -z "$why" ]]; then
    result PASS "$name"
  else
    result FAIL "$name" "$why $(explain "$log") [${ms} ms, $log]"
  fi
done

if ((kvm_ok == 0)) && [[ $kvm_why == unusable ]]; then
  echo "microguests: /dev/kvm is not usable here; tests skipped, not passed" >&2
fi
echo "microguests: $npass passed, $nfail failed, $nskip skipped"
((nfail == 0))
