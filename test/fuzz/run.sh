#!/usr/bin/env bash
# Runs every fuzzer (build/fuzz/bin/NAME-fuzz, `make fuzzers`) for a bounded
# time on its saved seed corpus test/fuzz/corpus/NAME (read only: what it
# finds goes to a scratch corpus under build/fuzz/work/NAME) and prints one
# line per fuzzer:
#   RESULT PASS fuzz/NAME <executions> execs in <s> s, <n> corpus files
#   RESULT FAIL fuzz/NAME <what it found>: build/fuzz/artifacts/NAME-...
# A crash, a sanitizer report, a leak, a timeout (one input running longer
# than 25 s) or an out-of-memory (2 GiB) fails; the input that did it is
# saved under build/fuzz/artifacts/ (reproduce: build/fuzz/bin/NAME-fuzz FILE).
# Usage: run.sh [NAME ...]   (default: every built fuzzer)
# Environment: FUZZ_SECONDS per fuzzer (default 30), FUZZ_RUNS (a count of
# executions instead of a time bound), FUZZ_SEED (libFuzzer's -seed: with
# FUZZ_RUNS the same inputs every run; `make test` uses both, so that its
# result does not depend on luck; `make fuzz` searches at random).
set -u
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root" || exit 1
bin=build/fuzz/bin
secs=${FUZZ_SECONDS:-30}
# Largest input per fuzzer (each harness also refuses longer ones).
declare -A maxlen=([config]=65536 [gdb_packet]=65536 [resmgr]=65540
  [a64_decode]=64 [boot_x86]=1048576 [boot_arm64]=1048576 [fdt]=65536
  [acpi]=131072 [virtq]=65552 [virtio_dev]=65539 [virtio_net]=81924
  [fwcfg_dma]=65633 [resmgr_server]=131072)
names=("$@")
if ((${#names[@]} == 0)); then
  for f in test/fuzz/*_fuzz.cc; do
    n=${f#test/fuzz/}
    names+=("${n%_fuzz.cc}")
  done
fi
mkdir -p build/fuzz/artifacts build/fuzz/logs
nfail=0
for n in "${names[@]}"; do
  exe=$bin/$n-fuzz
  if [[ ! -x $exe ]]; then
    echo "RESULT FAIL fuzz/$n $exe not built (make fuzzers)"
    nfail=$((nfail + 1))
    continue
  fi
  seeds=test/fuzz/corpus/$n
  work=build/fuzz/work/$n
  log=build/fuzz/logs/$n.log
  mkdir -p "$work"
  args=(-max_len="${maxlen[$n]:-4096}" -timeout=25 -rss_limit_mb=2048
        -artifact_prefix="build/fuzz/artifacts/$n-" -print_final_stats=1)
  [[ -f test/fuzz/$n.dict ]] && args+=(-dict="test/fuzz/$n.dict")
  if [[ -n ${FUZZ_RUNS:-} ]]; then args+=(-runs="$FUZZ_RUNS"); else args+=(-max_total_time="$secs"); fi
  [[ -n ${FUZZ_SEED:-} ]] && args+=(-seed="$FUZZ_SEED")
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "$exe" "${args[@]}" "$work" "$seeds" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  if [[ $rc == 0 ]]; then
    if [[ -n ${FUZZ_RUNS:-} ]]; then span="${FUZZ_RUNS} runs${FUZZ_SEED:+, seed $FUZZ_SEED}"; else span="${secs} s"; fi
    echo "RESULT PASS fuzz/$n ${execs:-?} execs in ${span}, $(ls "$work" | wc -l) corpus files"
  else
    what=$(grep -m1 -oE 'ERROR: [A-Za-z]+Sanitizer: [a-z-]+|runtime error: .*|ERROR: libFuzzer: [a-z-]+' "$log")
    art=$(grep -m1 -o 'build/fuzz/artifacts/[^ ]*' "$log")
    echo "RESULT FAIL fuzz/$n ${what:-exit $rc}: ${art:-see $log}"
    nfail=$((nfail + 1))
  fi
done
[[ $nfail == 0 ]]
