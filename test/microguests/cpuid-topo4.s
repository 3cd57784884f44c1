/* cpuid-topo4: CPUID topology and MADT with 4 vCPUs (cpuid-topo.inc). */
        .include "common.inc"
        GUEST_NAME "cpuid-topo4"
        .set NCPUS, 4
        .set SHIFT, 2
        .include "cpuid-topo.inc"
