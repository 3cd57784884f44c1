# arch/: every architecture's plan (its policies and `set` variables, plain
# code) on every architecture, then the one being built (KVM and machine).
CORE_SRCS += arch/vars.cc arch/x86_64/plan.cc arch/aarch64/plan.cc
include arch/$(ARCH)/module.mk
