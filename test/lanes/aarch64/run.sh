#!/usr/bin/env bash
# The aarch64 emulated-host lane: what differs from the x86_64 lane. Builds
# the cross-built qvm (make ARCH=aarch64), the arm64 micro-guests (mg/*.s),
# the nested guest and the lane's host image (lane.build), and boots it
# under qemu-system-aarch64 -M virt,virtualization=on (KVM nests at EL2);
# lane.sh runs the tests inside it. The driver (test/lanes/lib/driver.sh)
# does the rest: RESULT/TIME/QVMTIME lines, stall detection, fresh hosts and
# reruns, the summary, the console log build/test-logs/aarch64-lane.log.
# Exit status 0 when every test passed.
# Environment: QVM_LANE_TIMEOUT (s, default 2400), QVM_LANE_STALL (s, 120),
# QVM_LANE_SILENCE (s, 4 x stall), QVM_LANE_BOOTS (3), QVM_LANE_REPS (boot
# repetitions, 5), QVM_LANE_TESTS ("a b": a subset, or the lane self-tests
# selftest-*), QVM_LANE_VERBOSE=1 (show every qvm run's output),
# QVM_LANE_GUESTLOG=1 (nested guest kernels log without `quiet`),
# QVM_LANE_QEMU_CPU / QVM_LANE_QEMU_ACCEL / QVM_LANE_HOST_APPEND
# (experiments with the emulated host), MAKE.
LANE_ARCH=aarch64
LANE_SCRIPT=test/lanes/aarch64/lane.sh
LANE_TIMEOUT=2400
LANE_CONSOLE=ttyAMA0
LANE_MEDIANS="boot-2cpu boot-ugic-2cpu"
LANE_APPEND=""
[[ -n ${QVM_LANE_GUESTLOG:-} ]] && LANE_APPEND+=" qvmlane.guestlog=1"
# Experiment knobs (defaults are the lane's normal host): the emulated CPU,
# QEMU's accelerator options (e.g. tcg,thread=single) and extra host kernel
# arguments (e.g. kvm-arm.mode=nvhe).
qemu_cpu=${QVM_LANE_QEMU_CPU:-max,pauth-impdef=on,sve=off}
qemu_accel=${QVM_LANE_QEMU_ACCEL:-tcg}
[[ -n ${QVM_LANE_HOST_APPEND:-} ]] && LANE_APPEND+=" $QVM_LANE_HOST_APPEND"
[[ -n ${QVM_LANE_QEMU_CPU:-}${QVM_LANE_QEMU_ACCEL:-}${QVM_LANE_HOST_APPEND:-} ]] &&
  echo "aarch64 lane: emulated host -cpu $qemu_cpu -accel $qemu_accel, extra host args:$LANE_APPEND"
img=build/image/lane-aarch64
LANE_QEMU=(qemu-system-aarch64 -M virt,virtualization=on,gic-version=3 -accel "$qemu_accel" -cpu "$qemu_cpu"
           -smp 2 -m 2048 -nodefaults -kernel "$img/Image" -initrd "$img/initramfs.cpio.gz")
LANE_STATE=("info cpus" "info registers -a" "info irq" "info pic")
lane_build() {
  ${MAKE:-make} --no-print-directory build/bin/qvm-mkimage &&
  ${MAKE:-make} --no-print-directory ARCH=aarch64 all build/aarch64/lane-tools/qvm-gdbcheck &&
  bash tools/debian-fetch.sh aarch64 build/downloads &&
  mkdir -p build/aarch64/guest-tools &&
  aarch64-linux-gnu-gcc -static -O2 -Wall -Wextra -Werror -o build/aarch64/guest-tools/qvm-pmu-probe \
    test/lanes/aarch64/pmu-probe.c &&
  build/bin/qvm-mkimage -o build/aarch64/guest test/lanes/aarch64/guest.build &&
  mkdir -p build/aarch64/microguests &&
  for s in test/lanes/aarch64/mg/*.s; do
    n=$(basename "$s" .s)
    aarch64-linux-gnu-as -I test/lanes/aarch64/mg "$s" -o "build/aarch64/microguests/$n.o" &&
    aarch64-linux-gnu-objcopy -O binary "build/aarch64/microguests/$n.o" "build/aarch64/microguests/$n.bin" || return 1
  done &&
  build/bin/qvm-mkimage --outroot build/image test/lanes/aarch64/lane.build
}
. "$(dirname "$0")/../lib/driver.sh"
lane_main
