#!/usr/bin/env bash
# Runs qvm's test suites and prints one summary line of its own:
#   N passed, M failed, K skipped
# Suites: every build/bin/*-tests Catch2 binary (each test case counts), the
# micro-guests and the other native suites, the sanitizer build's suites
# (build/san), the fuzzers (build/fuzz), the lanes' self-tests, the x86_64,
# passthrough and aarch64 emulated-host lanes, and the arm64 unit suites.
# Each suite reports `RESULT PASS|FAIL|SKIP <suite>/<name>` lines; this
# script counts them. In `all` the lanes run beside the other suites (below).
# Usage: run-tests.sh all|native|san|fuzz|x86_64|aarch64
set -u
lane=${1:-all}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
logdir=build/test-logs
mkdir -p "$logdir"
# Each run counts into its own file (two concurrent runs must not mix their
# counts); the last finished run is copied to results.txt for reading.
results=$(mktemp "$logdir/results.XXXXXX")
trap 'cp -f "$results" "$logdir/results.txt" 2>/dev/null; rm -f "$results" "$cpu_file"' EXIT

record() { echo "$*" | tee -a "$results"; }

run_catch() {  # BINARY [PREFIX]: PREFIX goes before each result's name
  local bin=$1 pre=${2:-} name
  name=$pre$(basename "$bin")
  local xml=$logdir/${name//\//-}.xml
  "$bin" -r junit -o "$xml" >/dev/null 2>"$logdir/${name//\//-}.stderr"
  local rc=$?
  if [ ! -s "$xml" ]; then
    record "RESULT FAIL $name/run binary exited $rc without a report"
    return
  fi
  # One result per test case; a test case with <failure> or <error> fails.
  python3 - "$xml" "$name" <<'PY' | tee -a "$results"
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
for tc in root.iter('testcase'):
    name = tc.get('name', '?').replace(' ', '_')
    bad = tc.find('failure') is not None or tc.find('error') is not None
    print(f"RESULT {'FAIL' if bad else 'PASS'} {sys.argv[2]}/{name}")
PY
}

# Where the time goes: each phase's wall time and the CPU time (user +
# system, seconds) its finished processes used, printed before the summary
# ("native 211 s/150 cpu": below 2 cpu per wall second on 2 cores, it
# waited for something else). `times` runs in this shell (in a command
# substitution it would count a fresh subshell's children: none).
cpu_file=$(mktemp "$logdir/cpu.XXXXXX")
cpu_now() {
  times >"$cpu_file"
  cpu=$(awk 'NR == 2 { split($1, u, "m"); split($2, s, "m"); printf "%d", u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$cpu_file")
}
cpu_now
cpu0=$cpu phase_t=$SECONDS phase_cpu=$cpu phases=""
phase() {
  cpu_now
  phases="$phases${phases:+, }$1 $((SECONDS - phase_t)) s/$((cpu - phase_cpu)) cpu"
  phase_t=$SECONDS phase_cpu=$cpu
}

run_native() {
  for bin in build/bin/*-tests; do
    [ -x "$bin" ] || continue
    run_catch "$bin"
  done
  if [ -x test/microguests/run.sh ]; then
    bash test/microguests/run.sh 2>&1 | tee "$logdir/microguests.out" | grep '^RESULT ' >> "$results"
    grep '^RESULT ' "$logdir/microguests.out"
  else
    record "RESULT FAIL native/microguests runner missing"
  fi
  # The QNX configuration corpus (x86_64 files; the aarch64 ones run with
  # the aarch64 lane's cross build below).
  bash test/qnxcfg/run.sh x86_64 2>&1 | tee "$logdir/qnxcfg.out" | grep '^RESULT ' >> "$results"
  grep '^RESULT ' "$logdir/qnxcfg.out"
  for suite in sdk control shm pass gdb hostile seccomp blkkill user delayed; do
    if [ -x test/$suite/run.sh ]; then
      bash test/$suite/run.sh 2>&1 | tee "$logdir/$suite.out" | grep '^RESULT ' >> "$results"
      grep '^RESULT ' "$logdir/$suite.out"
    else
      record "RESULT FAIL native/$suite runner missing"
    fi
  done
}

# run_suite LOG PREFIX COMMAND...: a suite script; its RESULT lines are
# counted with PREFIX before each name.
run_suite() {
  local log=$logdir/$1.out pre=$2
  shift 2
  "$@" >"$log" 2>&1
  grep '^RESULT ' "$log" | sed "s|^RESULT \([A-Z]*\) |RESULT \1 $pre|" | tee -a "$results"
}

# The same suites on the ASan+UBSan build (build/san): the Catch2 unit
# suites, the micro-guests, /dev/qvm, the SDK and the system-call filter
# (without filters there: its `filtered` case skips), each result named san/....
# Every ASan/LSan report (qvm's included, whatever its exit code) goes to a
# file under build/test-logs/san/; any there fails san/reports. UBSan stops
# the process at its first report, which fails the test that ran it.
run_san() {
  san=build/san
  if [ ! -x $san/bin/qvm ]; then
    record "RESULT FAIL san/build $san/bin/qvm not built (make check-sanitize)"
  else
    rm -rf "$logdir/san"
    mkdir -p "$logdir/san"
    (
      export BUILD=$san SANITIZE=${SANITIZE:-address,undefined}
      export QVM_BIN=$top/$san/bin/qvm QVM_VDEV_DIR=$top/$san/lib/qvm
      export ASAN_OPTIONS=detect_leaks=1:log_path=$top/$logdir/san/report
      export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$top/$logdir/san/report
      for bin in $san/bin/*-tests; do
        [ -x "$bin" ] && run_catch "$bin" san/
      done
      run_suite san-microguests san/ bash test/microguests/run.sh
      for suite in control sdk seccomp; do
        run_suite "san-$suite" san/ bash test/$suite/run.sh
      done
    )
    reports=$(ls "$logdir/san" | grep '^report' || true)
    if [ -z "$reports" ]; then
      record "RESULT PASS san/reports no sanitizer report"
    else
      for r in $reports; do
        record "RESULT FAIL san/reports $logdir/san/$r: $(grep -m1 -E 'ERROR|runtime error' "$logdir/san/$r" | cut -c1-200)"
      done
    fi
  fi
}

# Every fuzzer on its saved corpus, then FUZZ_RUNS (5000) more inputs from
# a fixed seed (FUZZ_SEED, 1): the same inputs in every run, so a result
# never depends on luck (a random 8 s search once failed CI by finding a
# new bug; new bugs are for `make fuzz FUZZ_SECONDS=N`, which searches at
# random, and what it finds joins the corpus).
run_fuzz() {
  FUZZ_RUNS=${FUZZ_RUNS:-5000} FUZZ_SEED=${FUZZ_SEED:-1} run_suite fuzz "" bash test/fuzz/run.sh
}

# The lanes' own machinery (test/lanes/selftest.sh: pass, fail, a qvm
# timeout, a stalled emulated host rerun in a fresh one, unreached), the
# x86_64 lane, then the passthrough lane (`run.sh pass`: q35 + intel-iommu
# + QEMU's edu bound to vfio-pci, one host boot; skipped when
# QVM_LANE_TESTS names tests of the x86_64 lane only, no pass-*).
run_x86_64() {
  if [ -f test/lanes/selftest.sh ]; then
    bash test/lanes/selftest.sh 2>&1 | tee "$logdir/lanes-selftest.out" | grep '^RESULT ' >> "$results"
    grep '^RESULT ' "$logdir/lanes-selftest.out"
  else
    record "RESULT FAIL lanes/selftest runner missing"
  fi
  phase lanes-selftest
  if [ -x test/lanes/x86_64/run.sh ]; then
    bash test/lanes/x86_64/run.sh 2>&1 | tee "$logdir/x86_64-lane.out" | grep '^RESULT ' >> "$results"
    grep '^RESULT ' "$logdir/x86_64-lane.out"
  else
    record "RESULT FAIL x86_64/lane runner missing"
  fi
  phase x86_64-lane
  case " ${QVM_LANE_TESTS:-pass-} " in
    *" pass-"*)
      bash test/lanes/x86_64/run.sh pass 2>&1 | tee "$logdir/x86_64-pass-lane.out" | grep '^RESULT ' >> "$results"
      grep '^RESULT ' "$logdir/x86_64-pass-lane.out"
      phase x86_64-pass-lane ;;
  esac
}

# aarch64: the emulated arm64 host's guest lane (it builds `make ARCH=aarch64
# all` itself unless the prebuild did), then the cross-built suites under
# qemu-aarch64-static and the aarch64 QNX configurations. Never beside the
# x86_64 lane's QEMU: the lanes serialize on /tmp/qvm-lane.lock. Issue 8 (a
# nested guest's init dying with SIGSEGV now and then) kept it out of `make
# test` for a while; boot-2cpu has since passed 20 of 20 and 40 of 40
# repetitions (arch/aarch64/README.md).
run_aarch64() {
  if [ -x test/lanes/aarch64/run.sh ]; then
    bash test/lanes/aarch64/run.sh 2>&1 | tee "$logdir/aarch64-lane.out" | grep '^RESULT ' >> "$results"
    grep '^RESULT ' "$logdir/aarch64-lane.out"
    phase aarch64-lane
    bash test/lanes/aarch64/unit.sh 2>&1 | tee "$logdir/aarch64-unit.out" | grep '^RESULT ' >> "$results"
    grep -c '^RESULT PASS ' "$logdir/aarch64-unit.out" | sed 's/$/ aarch64-unit cases passed/'
    grep '^RESULT [FS]' "$logdir/aarch64-unit.out"
    bash test/qnxcfg/run.sh aarch64 2>&1 | tee "$logdir/qnxcfg-aarch64.out" | grep '^RESULT ' >> "$results"
    grep '^RESULT ' "$logdir/qnxcfg-aarch64.out"
  else
    record "RESULT FAIL aarch64/lane runner missing"
  fi
  phase aarch64-unit
}

# build_tree NAME TARGET...: a tree `make test` builds while the lanes run;
# its log is build/test-logs/NAME-build.log. The suites report what did
# not build. Not niced: on a machine shared with other work at normal
# priority a niced build gets a tenth of a core, and the whole run waits
# for it (three concurrent loaded runs showed it: their sanitizer trees
# took most of an hour).
build_tree() {
  local name=$1
  shift
  if ! ${MAKE:-make} --no-print-directory "$@" >"$logdir/$name-build.log" 2>&1; then
    echo "make $*: failed (tail of $logdir/$name-build.log):"
    tail -n 20 "$logdir/$name-build.log" | sed 's/^/  | /'
  fi
  phase "$name-build"
}

case $lane in
  native) run_native; phase native ;;
  san) run_san; phase san ;;
  fuzz) run_fuzz; phase fuzz ;;
  x86_64) run_x86_64 ;;
  aarch64) run_aarch64 ;;
  all)
    # The whole of `make test` (the Makefile has built `all`). Two streams
    # side by side, because an emulated host keeps one of CI's two cores
    # busy and leaves the other mostly idle:
    #  - the lanes, one after the other in the background: the self-tests,
    #    x86_64, passthrough, aarch64 (after its image's prebuild), the arm64
    #    suites. Their RESULT lines are printed when they are done;
    #  - in the foreground: the native suites, then the sanitizer tree
    #    (build/san) built and run, then the fuzzers built and run; beside
    #    them, niced, the aarch64 lane's image (the cross-build of the whole
    #    tree) is prebuilt (a failed prebuild is simply repeated by that lane,
    #    which reports it).
    # Each stream counts into its own file; the summary adds them up.
    lane_results=$(mktemp "$logdir/lane-results.XXXXXX")
    lane_phases=$lane_results.phases prebuilt=$lane_results.prebuilt
    prebuild=""
    if [ -x test/lanes/aarch64/run.sh ]; then
      (QVM_LANE_BUILD_ONLY=1 nice -n 10 bash test/lanes/aarch64/run.sh >/dev/null 2>&1; touch "$prebuilt") &
      prebuild=$!
    fi
    (
      results=$lane_results cpu_file=$lane_results.cpu
      cpu_now; phase_t=$SECONDS phase_cpu=$cpu phases=""
      run_x86_64
      if [ -n "$prebuild" ]; then
        while [ ! -e "$prebuilt" ]; do sleep 2; done
        phase aarch64-prebuild-wait
      fi
      run_aarch64
      echo "$phases" >"$lane_phases"
      rm -f "$cpu_file"
    ) >"$logdir/lanes.out" 2>&1 &
    lanes=$!
    run_native; phase native
    build_tree san sanitize-build
    run_san; phase san
    build_tree fuzz fuzzers
    run_fuzz; phase fuzz
    echo "native, sanitizer and fuzz suites done; waiting for the lanes (log: $logdir/lanes.out)"
    wait "$lanes"
    [ -n "$prebuild" ] && wait "$prebuild"
    phase lanes-wait  # its cpu: all the lanes and the prebuild used
    grep '^RESULT \|cases passed$' "$logdir/lanes.out"
    cat "$lane_results" >>"$results"
    lane_time=$(cat "$lane_phases" 2>/dev/null)
    phases="$phases; lanes beside them: ${lane_time:-none}"
    rm -f "$lane_results" "$lane_phases" "$prebuilt"
    ;;
  *) echo "usage: run-tests.sh all|native|san|fuzz|x86_64|aarch64" >&2; exit 2 ;;
esac

pass=$(grep -c '^RESULT PASS ' "$results")
fail=$(grep -c '^RESULT FAIL ' "$results")
skip=$(grep -c '^RESULT SKIP ' "$results")
if [ "$fail" -gt 0 ]; then
  echo "failed tests:"
  grep '^RESULT FAIL ' "$results" | sed 's/^RESULT FAIL /  /'
fi
cpu_now
[ -n "$phases" ] && echo "time: $phases; in all $SECONDS s/$((cpu - cpu0)) cpu"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
