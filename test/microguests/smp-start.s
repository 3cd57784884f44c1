/*
 * smp-start: the second vCPU started the way the BSDs start an application
 * processor (INIT, two STARTUPs, a real-mode trampoline at 0x8000, then
 * 32-bit protected mode): smp-xsave without its XSAVE checks, so that the
 * start-up is proven on accelerators that cannot run XSAVE in the guest.
 */
        .include "common.inc"
        GUEST_NAME "smp-start"
        .set WITH_XSAVE, 0
        .include "smp.inc"
