#!/bin/sh
# The bench lane's startup script (bench.build), inside QEMU's emulated AMD
# host with kvm_amd. Boots the test guest (same kernel, initramfs, cmdline,
# 2 vCPUs, 256 MiB) under qvm and under QEMU -accel kvm (-M pc, -M microvm),
# alternating the order run by run, and reports one console line per run:
#   QVMBENCH boot <peer> <run> first_ns=... exit_ns=... rc=...
# (qvm-bench-run: process start -> QVM-GUEST-INIT, -> process exit), then
#   QVMBENCH done
# Kernel command-line knob: qvmbench.reps=N (default 5).
busybox --install -s
reps=5 timeline=0
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    qvmbench.reps=*) reps=${arg#qvmbench.reps=} ;;
    qvmbench.timeline=1) timeline=1 ;;
  esac
done
echo "QVMBENCH host $(uname -r), $(nproc) cpu, up $(cut -d' ' -f1 /proc/uptime) s"
[ -c /dev/kvm ] || echo "QVMBENCH note no /dev/kvm in the emulated host"

# qvmbench.timeline=1: instead of the timed runs, one boot under qvm and
# one under QEMU -M pc of the same guest with the kernel's own timeline
# (printk.time, initcall_debug, the whole log printed by the guest's init
# after a quiet boot: qvm.dmesg=all), every console line reported as
#   QVMBENCH tl <peer> <line>
# for test/bench/timeline.py (QVM_BENCH_TIMELINE=1 make bench).
if [ "$timeline" = 1 ]; then
  tl_append="console=ttyS0 quiet printk.time=1 initcall_debug log_buf_len=4M qvm.dmesg=all qvm.test=poweroff"
  sed "s|^cmdline .*|cmdline \"$tl_append\"|" /etc/qvm/boot-2cpu.qvmconf >/tmp/tl.qvmconf
  # qemu-pc-host: -cpu host, the CPUID KVM supports, as qvm passes it on
  # (QEMU's default CPU model has no XSAVE or AVX)
  for p in qvm qemu-pc qemu-pc-host; do
    cpu=""
    [ "$p" = qemu-pc-host ] && cpu="-cpu host"
    case $p in
      qvm) timeout -s KILL 300 qvm @/tmp/tl.qvmconf </dev/null >/tmp/tl.out 2>&1 ;;
      qemu-pc*)
        timeout -s KILL 300 qemu-system-x86_64 -accel kvm -M pc $cpu -nodefaults -no-user-config \
          -display none -m 256M -smp 2 -serial stdio -no-reboot \
          -kernel /guest/vmlinuz -initrd /guest/initramfs.cpio.gz -append "$tl_append" \
          </dev/null >/tmp/tl.out 2>&1 ;;
    esac
    echo "QVMBENCH tl-rc $p $?"
    tr -d '\r' </tmp/tl.out | sed "s/^/QVMBENCH tl $p /"
  done
  echo "QVMBENCH done"
  stty -F /dev/console -tostop 2>/dev/null
  poweroff -f
fi

append="console=ttyS0 quiet qvm.test=poweroff"
run_peer() {
  case "$1" in
    qvm)
      qvm-bench-run -m QVM-GUEST-INIT -t 60000 -e /tmp/err -- \
        qvm @/etc/qvm/boot-2cpu.qvmconf ;;
    qemu-pc)
      qvm-bench-run -m QVM-GUEST-INIT -t 90000 -e /tmp/err -- \
        qemu-system-x86_64 -accel kvm -M pc -nodefaults -no-user-config \
        -display none -m 256M -smp 2 -serial stdio -no-reboot \
        -kernel /guest/vmlinuz -initrd /guest/initramfs.cpio.gz -append "$append" ;;
    qemu-microvm)
      # The guest's poweroff does not end QEMU -M microvm (see README):
      # killed 5 s after the marker, exit time reported n/a.
      qvm-bench-run -m QVM-GUEST-INIT -t 90000 -k 5000 -e /tmp/err -- \
        qemu-system-x86_64 -accel kvm -M microvm -nodefaults -no-user-config \
        -display none -m 256M -smp 2 -serial stdio -no-reboot \
        -kernel /guest/vmlinuz -initrd /guest/initramfs.cpio.gz -append "$append" ;;
  esac
}

i=1
while [ "$i" -le "$reps" ]; do
  case $((i % 3)) in
    1) order="qvm qemu-pc qemu-microvm" ;;
    2) order="qemu-pc qemu-microvm qvm" ;;
    0) order="qemu-microvm qvm qemu-pc" ;;
  esac
  for p in $order; do
    line=$(run_peer "$p")
    echo "QVMBENCH boot $p $i $line"
    case "$line" in
      *rc=0*|*rc=killed*) ;;
      *) tail -n 3 /tmp/err | sed "s/^/QVMBENCH err $p: /" ;;
    esac
  done
  i=$((i + 1))
done
# block: the guest's qvm-blkbench (O_DIRECT 1 MiB sequential write/read,
# 4 KiB random reads for 5 s) on virtio-blk backed by /tmp/bench.img:
#   QVMBENCH block <peer> <run> seqw=MiB/s seqr=MiB/s randr=IOPS rc=...
# peers: qvm (eventfds), qvm-exit (`notify exit`), qemu-pc (virtio-blk-pci).
blk_peer() {
  rm -f /tmp/bench.img /tmp/blk.out
  dd if=/dev/zero of=/tmp/bench.img bs=1M count=64 2>/dev/null
  case "$1" in
    qvm) timeout -s KILL 300 qvm @/etc/qvm/blk-eventfd.qvmconf </dev/null >/tmp/blk.out 2>&1 ;;
    qvm-exit) timeout -s KILL 300 qvm @/etc/qvm/blk-exit.qvmconf </dev/null >/tmp/blk.out 2>&1 ;;
    qemu-pc)
      timeout -s KILL 300 qemu-system-x86_64 -accel kvm -M pc -nodefaults -no-user-config \
        -display none -m 256M -smp 1 -serial stdio -no-reboot \
        -kernel /guest/vmlinuz -initrd /guest/initramfs.cpio.gz \
        -append "console=ttyS0 quiet qvm.test=blkbench" \
        -drive file=/tmp/bench.img,format=raw,if=none,id=d0 -device virtio-blk-pci,drive=d0 \
        </dev/null >/tmp/blk.out 2>&1 ;;
  esac
  rc=$?
  kv=""
  for t in seqw seqr randr; do
    v=$(sed -n "s/^QVM-BLKBENCH $t \([0-9.]*\) .*/\1/p" /tmp/blk.out | tr -d '\r' | head -n1)
    kv="$kv $t=${v:--1}"
  done
  echo "QVMBENCH block $1 $2$kv rc=$rc"
}
b=1
while [ "$b" -le "$reps" ]; do
  case $((b % 3)) in
    1) order="qvm qemu-pc qvm-exit" ;;
    2) order="qemu-pc qvm-exit qvm" ;;
    0) order="qvm-exit qvm qemu-pc" ;;
  esac
  for p in $order; do blk_peer "$p" "$b"; done
  b=$((b + 1))
done
rm -f /tmp/bench.img

# One extra qvm boot, not timed: SIGUSR1 when the marker appears, so the
# exit statistics (start -> init) show what the boot's time goes to.
rm -f /tmp/prof.out
qvm @/etc/qvm/boot-2cpu.qvmconf </dev/null >/tmp/prof.out 2>&1 &
pid=$!
n=0
while [ $n -lt 600 ] && ! grep -q QVM-GUEST-INIT /tmp/prof.out; do sleep 0.05; n=$((n + 1)); done
kill -USR1 $pid 2>/dev/null
n=0
while [ $n -lt 600 ] && kill -0 $pid 2>/dev/null; do sleep 0.05; n=$((n + 1)); done
kill -KILL $pid 2>/dev/null
wait $pid 2>/dev/null
grep -E 'status: (system|vcpu)' /tmp/prof.out | sed 's/^/QVMBENCH stats /'
echo "QVMBENCH done"
stty -F /dev/console -tostop 2>/dev/null
poweroff -f
