# arch/x86_64/: KVM on x86_64 and the PC machine description.
CORE_SRCS += arch/x86_64/kvm_x86.cc arch/x86_64/machine.cc arch/x86_64/host_ports.cc \
             arch/x86_64/syscalls.cc
