#!/usr/bin/env bash
# The aarch64 emulated-host lane. Builds the cross-built qvm (make
# ARCH=aarch64), the nested guest and the lane's host image (lane.build),
# boots it under qemu-system-aarch64 -M virt,virtualization=on (KVM nests at
# EL2), and
# turns the image's console reports (lane.sh) into the test runner's lines:
#   RESULT PASS aarch64/<test>
#   RESULT FAIL aarch64/<test> <detail>
#   RESULT SKIP aarch64/<test> <detail>
# plus TIME/QVMTIME lines and a summary. A test the lane never finished is a
# FAIL naming where the lane stopped. The whole console goes to
# build/test-logs/aarch64-lane.log. Exit status 0 when every test passed.
# Environment: QVM_LANE_TIMEOUT (s, default 900), QVM_LANE_REPS (boot-2cpu
# repetitions, default 5), QVM_LANE_TESTS ("a b": a subset, or the lane
# self-tests selftest-pass/-fail/-hang), QVM_LANE_VERBOSE=1 (show every qvm
# run's output), QVM_LANE_GUESTLOG=1 (nested guest kernels log without
# `quiet`), QVM_LANE_QEMU_CPU / QVM_LANE_QEMU_ACCEL / QVM_LANE_HOST_APPEND
# (experiments with the emulated host), MAKE.
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
log=$logdir/aarch64-lane.log
buildlog=$logdir/aarch64-lane-build.log
qemuerr=$logdir/aarch64-lane-qemu.stderr
lane_timeout=${QVM_LANE_TIMEOUT:-600}
reps=${QVM_LANE_REPS:-5}
only=${QVM_LANE_TESTS:-}
plan=$(sed -n 's/^TESTS="\(.*\)"$/\1/p' test/lanes/aarch64/lane.sh)
[[ -n $only ]] && plan=$only
t_begin=$(date +%s%N)

fail_all() {
  for t in $plan; do echo "RESULT FAIL aarch64/$t $1"; done
  exit 1
}

echo "aarch64 lane: building the lane image"
if ! { ${MAKE:-make} --no-print-directory build/bin/qvm-mkimage &&
       ${MAKE:-make} --no-print-directory ARCH=aarch64 all &&
       bash tools/debian-fetch.sh aarch64 build/downloads &&
       mkdir -p build/aarch64/guest-tools &&
       aarch64-linux-gnu-gcc -static -O2 -Wall -Wextra -Werror -o build/aarch64/guest-tools/qvm-pmu-probe \
         test/lanes/aarch64/pmu-probe.c &&
       build/bin/qvm-mkimage -o build/aarch64/guest test/lanes/aarch64/guest.build &&
       mkdir -p build/aarch64/microguests &&
       for s in test/lanes/aarch64/mg/*.s; do
         n=$(basename "$s" .s)
         aarch64-linux-gnu-as "$s" -o "build/aarch64/microguests/$n.o" &&
         aarch64-linux-gnu-objcopy -O binary "build/aarch64/microguests/$n.o" "build/aarch64/microguests/$n.bin" || exit 1
       done &&
       build/bin/qvm-mkimage --outroot build/image test/lanes/aarch64/lane.build; } >"$buildlog" 2>&1; then
  tail -n 20 "$buildlog" | sed 's/^/  | /'
  fail_all "lane image build failed (see $buildlog)"
fi
img=build/image/lane-aarch64
t_built=$(date +%s%N)
echo "aarch64 lane: image built in $(( (t_built - t_begin) / 1000000 )) ms; booting the emulated host (timeout ${lane_timeout} s)"

append="console=ttyAMA0 quiet loglevel=3 panic=-1 qvmlane.reps=$reps"
[[ -n $only ]] && append+=" qvmlane.tests=${only// /,}"
[[ -n ${QVM_LANE_VERBOSE:-} ]] && append+=" qvmlane.verbose=1"
[[ -n ${QVM_LANE_GUESTLOG:-} ]] && append+=" qvmlane.guestlog=1"
# Experiment knobs (defaults are the lane's normal host): the emulated CPU,
# QEMU's accelerator options (e.g. tcg,thread=single) and extra host kernel
# arguments (e.g. kvm-arm.mode=nvhe).
qemu_cpu=${QVM_LANE_QEMU_CPU:-max,pauth-impdef=on,sve=off}
qemu_accel=${QVM_LANE_QEMU_ACCEL:-tcg}
[[ -n ${QVM_LANE_HOST_APPEND:-} ]] && append+=" $QVM_LANE_HOST_APPEND"
[[ -n ${QVM_LANE_QEMU_CPU:-}${QVM_LANE_QEMU_ACCEL:-}${QVM_LANE_HOST_APPEND:-} ]] &&
  echo "aarch64 lane: emulated host -cpu $qemu_cpu -accel $qemu_accel, host args: $append"

declare -A result
current="" done=0 qemu_rc="" boot2=() bootu2=()
: >"$log"
: >"$qemuerr"
while IFS= read -r line; do
  line=${line%$'\r'}
  printf '%s\n' "$line" >>"$log"
  case $line in
    "QVMLANE PLAN "*) plan=${line#QVMLANE PLAN } ;;
    "QVMLANE host "*) echo "$line" ;;
    "QVMTEST START "*) current=${line#QVMTEST START }; echo "aarch64 lane: $current ..." ;;
    "QVMTEST PASS "* | "QVMTEST FAIL "* | "QVMTEST SKIP "*)
      read -r _ r name detail <<<"$line"
      result[$name]=$r
      if [[ $r == PASS ]]; then echo "RESULT PASS aarch64/$name"
      else echo "RESULT $r aarch64/$name${detail:+ $detail}"; fi
      current="" ;;
    "QVMTIME test-"*) read -r _ label ms <<<"$line"; echo "TIME aarch64/${label#test-} $ms ms" ;;
    "QVMTIME "*)
      echo "$line"
      read -r _ label ms <<<"$line"
      [[ $label == boot-2cpu ]] && boot2+=("$ms")
      [[ $label == boot-ugic-2cpu ]] && bootu2+=("$ms") ;;
    "QVMLANE DONE") done=1 ;;
    "QVMQEMU EXIT "*) qemu_rc=${line#QVMQEMU EXIT } ;;
    "QVMREPS "*) read -r _ label n m <<<"$line"; echo "aarch64 lane: $label passed $n of $m runs" ;;
    "  | "* | "  : "* | "  ! "*) echo "$line" ;;  # output of a failed (or, verbose, every) run
  esac
done < <(timeout -k 10 "$lane_timeout" qemu-system-aarch64 -M virt,virtualization=on,gic-version=3 \
           -accel "$qemu_accel" -cpu "$qemu_cpu" -smp 2 \
           -m 2048 -nodefaults -display none -monitor none -serial stdio -no-reboot \
           -kernel "$img/Image" -initrd "$img/initramfs.cpio.gz" -append "$append" \
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
  if [[ $t == "$current" ]]; then echo "RESULT FAIL aarch64/$t hung or died here ($why)"
  else echo "RESULT FAIL aarch64/$t not reached ($why in $where)"; fi
  result[$t]=FAIL
done

t_end=$(date +%s%N)
echo "aarch64 lane: wall time $(( (t_end - t_begin) / 1000000 )) ms (boot and tests $(( (t_end - t_built) / 1000000 )) ms); log $log"
if ((${#boot2[@]})); then
  sorted=($(printf '%s\n' "${boot2[@]}" | sort -n))
  echo "aarch64 lane: boot-2cpu qvm start -> QVM-GUEST-INIT: median ${sorted[$(( ${#sorted[@]} / 2 ))]} ms of ${#sorted[@]} (${sorted[*]})"
fi
if ((${#bootu2[@]})); then  # the same on the user-space GICv2
  sorted=($(printf '%s\n' "${bootu2[@]}" | sort -n))
  echo "aarch64 lane: boot-ugic-2cpu qvm start -> QVM-GUEST-INIT: median ${sorted[$(( ${#sorted[@]} / 2 ))]} ms of ${#sorted[@]} (${sorted[*]})"
fi
for t in $plan; do [[ ${result[$t]} == PASS ]] || exit 1; done
exit 0
