# arch/kvm/: the thin KVM ioctl wrapper under both architectures' backends
# (built for every ARCH; only arch/<arch>/ uses it).
CORE_SRCS += arch/kvm/kvm.cc
