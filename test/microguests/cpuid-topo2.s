/* cpuid-topo2: CPUID topology and MADT with 2 vCPUs (cpuid-topo.inc). */
        .include "common.inc"
        GUEST_NAME "cpuid-topo2"
        .set NCPUS, 2
        .set SHIFT, 1
        .include "cpuid-topo.inc"
