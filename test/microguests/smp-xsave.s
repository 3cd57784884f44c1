/*
 * smp-xsave: the second vCPU started the way the BSDs start an application
 * processor, and XSAVE/XRSTOR with the CPUID-advertised mask on both vCPUs.
 *
 * Start-up (NetBSD's and FreeBSD's sequence on an xAPIC): the BSP copies a
 * real-mode trampoline to 0x8000, sends INIT (level assert) to LAPIC ID 1,
 * waits, then two STARTUP IPIs with vector 0x08. The AP wakes in real mode
 * at 0800:0000, loads the BSP's GDT, enters 32-bit protected mode, loads
 * the shared IDT and its own stack, records its LAPIC ID and runs the same
 * XSAVE checks as the BSP, then reports through a mailbox.
 *
 * XSAVE, on each vCPU, when CPUID.1:ECX.XSAVE is set (a host without it —
 * kvm_pvm — prints that the checks did not run, and only the start-up is
 * proven there; the x86_64 lane runs them): CR4.OSXSAVE; XCR0 := the mask
 * CPUID.(0xD,0) EDX:EAX advertises (XSETBV must not fault); CPUID.(0xD,0)
 * EBX (the size for the enabled XCR0) must equal ECX (all supported) and
 * the end of the furthest component the sub-leaves (0xD,i) describe (what
 * Linux checks before it prints "XSAVE consistency problem"); XSAVE then
 * XRSTOR of that mask must not fault and the header may name only enabled
 * components; the same with XSAVEOPT where CPUID.(0xD,1).EAX bit 0 says so
 * (FreeBSD's context switch: a #GP there was its "Fatal trap 9" in
 * restore_fpu_curthread on cpu 1). Both vCPUs must see the same mask and
 * sizes.
 */
        .include "common.inc"
        GUEST_NAME "smp-xsave"
        .set WITH_XSAVE, 1
        .include "smp.inc"
