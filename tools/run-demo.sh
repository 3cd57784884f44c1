#!/usr/bin/env bash
# `make run`: boots the demo guest (examples/linux-x86_64.qvmconf).
#   usage: tools/run-demo.sh BUILD-DIR MAKE
# Where /dev/kvm is hardware-backed, qvm runs it directly. Where it is not
# (kvm_pvm, the software KVM of this project's machines, on which stock Linux
# cannot boot; or no usable /dev/kvm), it says so in one line and boots the
# demo system image (qvm.build) in QEMU's emulated AMD host (TCG, SVM+NPT)
# with the guest console on this terminal. `poweroff` in the guest ends qvm,
# then the emulated host powers off; Ctrl-A x quits QEMU at any time.
set -u
build=${1:-build}
make=${2:-make}
cd "$(dirname "$0")/.."

why=""
if [[ -d /sys/module/kvm_pvm ]]; then
  why="/dev/kvm here is kvm_pvm, a software KVM on which stock Linux cannot boot"
elif ! python3 - <<'PY' 2>/dev/null
import fcntl, os, sys
fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
sys.exit(0 if fcntl.ioctl(fd, 0xAE00) == 12 else 1)  # KVM_GET_API_VERSION
PY
then
  why="there is no usable /dev/kvm here (KVM_GET_API_VERSION failed)"
fi

if [[ -z $why ]]; then
  "$make" --no-print-directory all guest >"$build/run-build.log" 2>&1 ||
    { tail -n 30 "$build/run-build.log"; echo "make run: build failed (log: $build/run-build.log)"; exit 1; }
  exec "$build/bin/qvm" @examples/linux-x86_64.qvmconf
fi

echo "make run: $why; booting the demo inside QEMU's emulated AMD host instead (qvm.build; Ctrl-A x quits)"
mkdir -p "$build"
"$make" --no-print-directory image BUILDFILE=qvm.build >"$build/run-build.log" 2>&1 ||
  { tail -n 30 "$build/run-build.log"; echo "make run: image build failed (log: $build/run-build.log)"; exit 1; }
exec qemu-system-x86_64 -accel tcg -M pc -cpu EPYC,+svm,+npt -smp 1 -m 2048 \
  -nodefaults -display none -serial mon:stdio -no-reboot \
  -kernel "$build/image/qvm/bzImage" -initrd "$build/image/qvm/initramfs.cpio.gz" \
  -append "console=ttyS0 quiet loglevel=3 panic=-1" 2> >(grep -v "TCG doesn't support requested feature" >&2)
