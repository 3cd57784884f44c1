/* cpuid-hv: qvm's default CPUID hypervisor policy (see cpuid-hv.inc). */
        .include "common.inc"
        GUEST_NAME "cpuid-hv"
        .set HIDDEN, 0
        .include "cpuid-hv.inc"
