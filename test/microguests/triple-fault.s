/* triple-fault: a guest that triple-faults at once, on every boot. It
 * prints its start line, loads an empty IDT and executes UD2: the #GP for
 * the missing #UD gate has no gate either (#DF), and neither has the double
 * fault, so the CPU shuts down. qvm must say so (the vCPU's registers,
 * rate-limited; the faulting instruction where the accelerator keeps it:
 * KVM on AMD resets the vCPU on a shutdown), reset the guest in place, and
 * stop with exit 7 once the resets form a loop (`set reset-loop 3` in its
 * config: the third reset within 10 s). The guest never reports a verdict
 * itself: reaching the debug-exit port is a failure. */
        .include "common.inc"
        GUEST_NAME "triple-fault"
main:
        PRINT "triple-fault: boot\n"
        lidtl empty_idt
        ud2
        FAIL_MSG 1, "UD2 with an empty IDT returned"

        .section .rodata
        .balign 8
empty_idt:
        .word 0
        .long 0
