# arch/aarch64/: KVM on arm64 and the arm64 machine description.
# a64_decode.cc (Capstone) is also built into the unit tests on every host.
CORE_SRCS += arch/aarch64/kvm_arm64.cc arch/aarch64/machine.cc arch/aarch64/a64_decode.cc \
             arch/aarch64/syscalls.cc
LDLIBS_CORE += -lcapstone
