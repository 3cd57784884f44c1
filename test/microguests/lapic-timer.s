/* lapic-timer: interrupts generated inside the kernel (the in-kernel LAPIC
 * timer) reach a guest run by qvm's vCPU loop. Proves: one-shot mode fires
 * exactly once on vector 0x50 and the current count runs down to 0 (a
 * count already 0 right after arming counts only if the interrupt came:
 * the vCPU was descheduled; retried up to 5 times);
 * periodic mode keeps firing; masking the LVT stops it. No vdev involved:
 * this separates qvm's vCPU loop from its device interrupt routing. */
        .include "common.inc"
        GUEST_NAME "lapic-timer"
        .include "lapic.inc"

        .set VEC, 0x50

timer_handler:
        incl ticks
        movl $0, LAPIC_EOI
        INTR_RETURN

main:
        SET_GATE VEC, timer_handler
        call lapic_enable
        movl $0x0b, LAPIC_TMR_DCR       /* divide by 1 */
        movl $VEC, LAPIC_LVT_TMR        /* one-shot, unmasked */
        /* 1. one-shot: the count runs down. A count of 0 right after
         * arming is right only when the vCPU was held off for the whole
         * 50 ms: then the interrupt has come; take it and arm again (up
         * to 5 times). */
        movl $5, tries
0:      movl $0, ticks
        movl $50000000, LAPIC_TMR_ICR
        movl LAPIC_TMR_CCR, %eax
        movl %eax, %ebx
        testl %eax, %eax
        jnz 1f
        sti
        WAIT_NONZERO ticks, 300000
        cli
        testl %eax, %eax
        jnz 9f
        FAIL_MSG 1, "current count 0 right after arming, no interrupt"
9:      decl tries
        jnz 0b
        FAIL_MSG 1, "current count 0 right after arming (5 tries)"
1:      cmpl $50000000, %eax
        jbe 2f
        FAIL_MSG 2, "current count above the initial count"
2:      DELAY 100
        movl LAPIC_TMR_CCR, %eax
        cmpl %ebx, %eax
        jb 3f
        FAIL_MSG 3, "current count did not decrease"
3:      sti
        WAIT_NONZERO ticks, 300000
        EXPECT %eax, $1, 4
        DELAY 1000
        EXPECT ticks, $1, 5             /* one-shot: once */
        movl LAPIC_TMR_CCR, %eax
        EXPECT %eax, $0, 6
        PRINT "lapic-timer: one-shot ok\n"

        /* 2. periodic, 1 ms at a 1 GHz timer clock (KVM's default) */
        movl $0, ticks
        movl $(VEC | (1 << 17)), LAPIC_LVT_TMR
        movl $1000000, LAPIC_TMR_ICR
        WAIT_ATLEAST ticks, 10, 300000
        cmpl $10, %eax
        jae 4f
        FAIL_MSG 7, "fewer than 10 periodic LAPIC timer interrupts"
4:      /* 3. mask: stops */
        movl $(VEC | (1 << 17) | (1 << 16)), LAPIC_LVT_TMR
        DELAY 10
        movl ticks, %ebx
        DELAY 3000
        movl ticks, %eax
        EXPECT %eax, %ebx, 8
        movl $0, LAPIC_TMR_ICR
        cli
        PRINT "lapic-timer: periodic and mask ok\n"
        ret

        .bss
ticks:  .long 0
tries:  .long 0
        .text
