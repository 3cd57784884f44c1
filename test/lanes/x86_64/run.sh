#!/usr/bin/env bash
# The x86_64 emulated-host lane: what differs from the aarch64 lane. The
# host image (lane.build, make lane-image-x86_64) boots under QEMU TCG with
# emulated SVM+NPT (kvm_amd nests there); lane.sh runs the tests inside it.
# The driver (test/lanes/lib/driver.sh) does the rest: RESULT/TIME/QVMTIME
# lines, stall detection, fresh hosts and reruns, the summary, the console
# log build/test-logs/x86_64-lane.log. Exit status 0 when every test passed.
# Environment: QVM_LANE_TIMEOUT (s, default 2700), QVM_LANE_STALL (s, 120),
# QVM_LANE_SILENCE (s, 4 x stall), QVM_LANE_BOOTS (3), QVM_LANE_REPS (boot
# repetitions, 5), QVM_LANE_TESTS ("a b": a subset, or the lane self-tests
# selftest-*), QVM_LANE_VERBOSE=1 (show every qvm run's output), MAKE.
# Argument `pass`: the passthrough lane (below).
LANE_ARCH=x86_64
LANE_SCRIPT=test/lanes/x86_64/lane.sh
LANE_TIMEOUT=2700
LANE_CONSOLE=ttyS0
# no_timer_check: Linux's boot-time test of the IO-APIC timer interrupt
# gives the interrupt a few loops of the emulated CPU to arrive; on a host
# loaded by other work the emulated CPU is descheduled that long and the
# kernel panics ("IO-APIC + timer doesn't work"), seen in this lane under
# stress-ng. The timer works; the test does not hold on a shared machine.
# idle=poll: the host's idle loop never executes HLT. A stall caught in
# CI (build/test-logs/x86_64-lane-stall-N.log, during `peer`) showed the
# emulated CPU halted (HLT=1) with IF=1 while its local APIC had the timer
# vector 236 pending in IRR (PPR 0x10, ISR empty, timer count 0): QEMU's
# TCG never woke the halted CPU for it. The next interrupt from outside (a
# SysRq key press) woke it, and the host reported "soft lockup - CPU#0
# stuck for 111s" and went on. A polling idle loop takes a pending
# interrupt at the next translation block instead of waiting to be woken.
# Cost: QEMU uses a whole host CPU while the emulated host idles.
LANE_APPEND="no_timer_check sysrq_always_enabled idle=poll"
LANE_MEDIANS="boot-2cpu"
img=build/image/lane-x86_64
machine=(-M pc)
# `run.sh pass`: the passthrough lane on the same image: a q35 host with an
# emulated Intel IOMMU (interrupt remapping on: without it VFIO_SET_IOMMU
# gives EPERM; Debian's cloud kernel has no AMD IOMMU driver) and QEMU's
# edu device (1234:11e8), which lane.sh binds to vfio-pci and gives to qvm
# with `pass loc pci` (its pass-* tests). One host boot, its own log
# (build/test-logs/x86_64-pass-lane.log) and RESULT x86_64-pass/<test>.
if [[ ${1:-} == pass ]]; then
  LANE_ARCH=x86_64-pass
  LANE_TESTS="host-kvm pass-host pass-edu pass-busy pass-unbound"
  LANE_TIMEOUT=900
  LANE_APPEND+=" intel_iommu=on iommu=pt"
  LANE_MEDIANS=""
  machine=(-M q35 -device intel-iommu,intremap=on -device edu)
fi
# All of QEMU's threads on one host CPU (the last this process may use).
# The lost interrupt above is a race between two of them: when the host
# enters a nested guest, QEMU 7.2's VMRUN helper sets a bit in the vCPU's
# interrupt_request with a plain (not atomic) read-modify-write, on the
# vCPU thread and without QEMU's global lock, while the main-loop thread
# fires the local-APIC timer and sets the bit that makes the vCPU poll its
# APIC in the same word. On two host CPUs at once one write can undo the
# other: the timer's poll request is lost, the vector stays in IRR and
# nothing asks for it again. On one CPU each write is one instruction that
# the other thread cannot split. (QEMU made every write of that word
# atomic upstream in 2025; Debian 12 ships 7.2.) test/lanes/README.md.
lane_cpu=$(taskset -pc $$ 2>/dev/null | sed -n 's/.*: *//; s/.*[,-]//p')
pin=()
[[ $lane_cpu =~ ^[0-9]+$ ]] && pin=(taskset -c "$lane_cpu")
LANE_QEMU=("${pin[@]}" qemu-system-x86_64 -accel tcg "${machine[@]}" -cpu EPYC,+svm,+npt -smp 1 -m 2048 -nodefaults
           -kernel "$img/bzImage" -initrd "$img/initramfs.cpio.gz")
LANE_STATE=("info cpus" "info registers" "info lapic" "info irq" "info pic")
# a stalled host: console loglevel 8, then its pending timers and clock
# event devices (q), blocked tasks (w) and CPU backtraces (l)
LANE_SYSRQ=(alt-sysrq-8 alt-sysrq-q alt-sysrq-w alt-sysrq-l)
# A host silent for QVM_LANE_KICK s gets a Shift key press (IRQ 1 through
# the IO-APIC: QEMU then re-evaluates the local APIC and delivers what it
# had left pending in IRR; Shift alone does nothing in the host). Its
# LAPIC and registers are recorded first. See test/lanes/README.md, "Kicks".
LANE_KICK="sendkey shift"
LANE_KICK_STATE=("info lapic" "info registers")
lane_build() { ${MAKE:-make} --no-print-directory lane-image-x86_64; }
. "$(dirname "$0")/../lib/driver.sh"
lane_main
