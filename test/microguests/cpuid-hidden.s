/* cpuid-hidden: `set cpuid-hide-hypervisor on` (see cpuid-hv.inc). */
        .include "common.inc"
        GUEST_NAME "cpuid-hidden"
        .set HIDDEN, 1
        .include "cpuid-hv.inc"
