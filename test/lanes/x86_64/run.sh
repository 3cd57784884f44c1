#!/usr/bin/env bash
# The x86_64 emulated-host lane. Builds the lane's host image (lane.build),
# boots it under QEMU TCG with emulated SVM+NPT (kvm_amd nests there), and
# turns the image's console reports (lane.sh) into the test runner's lines:
#   RESULT PASS x86_64/<test>
#   RESULT FAIL x86_64/<test> <detail>
#   RESULT SKIP x86_64/<test> <detail>
# plus TIME/QVMTIME lines and a summary. A test the lane never finished is a
# FAIL naming where the lane stopped. The whole console goes to
# build/test-logs/x86_64-lane.log. Exit status 0 when every test passed.
# Environment: QVM_LANE_TIMEOUT (s, default 900), QVM_LANE_REPS (boot-2cpu
# repetitions, default 5), QVM_LANE_TESTS ("a b": a subset, or the lane
# self-tests selftest-pass/-fail/-hang), QVM_LANE_VERBOSE=1 (show every qvm
# run's output), MAKE.
set -u
top=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$top"
logdir=build/test-logs
# One emulated-host lane at a time on this machine (two share 2 cores badly
# and the logs): wait for any other lane run to finish.
exec 9>"${TMPDIR:-/tmp}/qvm-lane.lock"
if ! flock -n 9; then
  echo "$(basename "$(dirname "$0")") lane: waiting for another lane run to finish"
  flock 9
fi
mkdir -p "$logdir"
log=$logdir/x86_64-lane.log
buildlog=$logdir/x86_64-lane-build.log
qemuerr=$logdir/x86_64-lane-qemu.stderr
lane_timeout=${QVM_LANE_TIMEOUT:-900}
reps=${QVM_LANE_REPS:-5}
only=${QVM_LANE_TESTS:-}
plan=$(sed -n 's/^TESTS="\(.*\)"$/\1/p' test/lanes/x86_64/lane.sh)
[[ -n $only ]] && plan=$only
t_begin=$(date +%s%N)

fail_all() {
  for t in $plan; do echo "RESULT FAIL x86_64/$t $1"; done
  exit 1
}

echo "x86_64 lane: building the lane image"
if ! ${MAKE:-make} --no-print-directory lane-image-x86_64 >"$buildlog" 2>&1; then
  tail -n 20 "$buildlog" | sed 's/^/  | /'
  fail_all "lane image build failed (see $buildlog)"
fi
img=build/image/lane-x86_64
t_built=$(date +%s%N)
echo "x86_64 lane: image built in $(( (t_built - t_begin) / 1000000 )) ms; booting the emulated host (timeout ${lane_timeout} s)"

append="console=ttyS0 quiet loglevel=3 panic=-1 qvmlane.reps=$reps"
[[ -n $only ]] && append+=" qvmlane.tests=${only// /,}"
[[ -n ${QVM_LANE_VERBOSE:-} ]] && append+=" qvmlane.verbose=1"

declare -A result
current="" done=0 qemu_rc="" boot2=()
: >"$log"
: >"$qemuerr"
while IFS= read -r line; do
  line=${line%$'\r'}
  printf '%s\n' "$line" >>"$log"
  case $line in
    "QVMLANE PLAN "*) plan=${line#QVMLANE PLAN } ;;
    "QVMLANE host "*) echo "$line" ;;
    "QVMTEST START "*) current=${line#QVMTEST START }; echo "x86_64 lane: $current ..." ;;
    "QVMTEST PASS "* | "QVMTEST FAIL "* | "QVMTEST SKIP "*)
      read -r _ r name detail <<<"$line"
      result[$name]=$r
      if [[ $r == PASS ]]; then echo "RESULT PASS x86_64/$name"
      else echo "RESULT $r x86_64/$name${detail:+ $detail}"; fi
      current="" ;;
    "QVMTIME test-"*) read -r _ label ms <<<"$line"; echo "TIME x86_64/${label#test-} $ms ms" ;;
    "QVMTIME "*)
      echo "$line"
      read -r _ label ms <<<"$line"
      [[ $label == boot-2cpu ]] && boot2+=("$ms") ;;
    "QVMBLK "*) echo "$line" ;;  # blk-perf figures
    "QVMNET "*) echo "$line" ;;  # net-perf figures
    "QVMLANE DONE") done=1 ;;
    "QVMQEMU EXIT "*) qemu_rc=${line#QVMQEMU EXIT } ;;
    "  | "* | "  : "*) echo "$line" ;;  # output of a failed (or, verbose, every) run
  esac
done < <(timeout -k 10 "$lane_timeout" qemu-system-x86_64 -accel tcg -M pc -cpu EPYC,+svm,+npt -smp 1 \
           -m 2048 -nodefaults -display none -monitor none -serial stdio -no-reboot \
           -kernel "$img/bzImage" -initrd "$img/initramfs.cpio.gz" -append "$append" \
           </dev/null 2>>"$qemuerr"
         echo "QVMQEMU EXIT $?")

# Tests the lane never reported.
if [[ $qemu_rc == 124 || $qemu_rc == 137 ]]; then
  why="lane timed out after ${lane_timeout} s"
elif [[ $done == 0 ]]; then
  why="emulated host stopped early (qemu exit ${qemu_rc:-?}; see $log)"
else
  why="not reported by the lane"
fi
where=${current:-before the first test}
for t in $plan; do
  [[ -n ${result[$t]:-} ]] && continue
  if [[ $t == "$current" ]]; then echo "RESULT FAIL x86_64/$t hung or died here ($why)"
  else echo "RESULT FAIL x86_64/$t not reached ($why in $where)"; fi
  result[$t]=FAIL
done

t_end=$(date +%s%N)
echo "x86_64 lane: wall time $(( (t_end - t_begin) / 1000000 )) ms (boot and tests $(( (t_end - t_built) / 1000000 )) ms); log $log"
if ((${#boot2[@]})); then
  sorted=($(printf '%s\n' "${boot2[@]}" | sort -n))
  echo "x86_64 lane: boot-2cpu qvm start -> QVM-GUEST-INIT: median ${sorted[$(( ${#sorted[@]} / 2 ))]} ms of ${#sorted[@]} (${sorted[*]})"
fi
for t in $plan; do [[ ${result[$t]} == PASS ]] || exit 1; done
exit 0
