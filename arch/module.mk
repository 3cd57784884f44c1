# arch/: every architecture's plan (its policies and `set` variables) and
# register model (dump layout, trace decoding, debugger registers), plain
# code, on every architecture, the KVM wrapper both backends share (arch/kvm),
# then the one being built (KVM and machine).
CORE_SRCS += arch/vars.cc arch/x86_64/plan.cc arch/aarch64/plan.cc \
             arch/x86_64/regs.cc arch/aarch64/regs.cc
include arch/kvm/module.mk
include arch/$(ARCH)/module.mk
