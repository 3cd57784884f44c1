/* hpet: the HPET vdev as the BSDs and Linux use it, timed against the ACPI
 * PM timer (3.579545 MHz, port 0x608). Proves:
 *   1. GCAP_ID: vendor 0x8086, 3 timers, 64-bit counter, legacy
 *      replacement capable (low dword 0x8086A201), period 10^7 fs (100 MHz);
 *   2. the main counter is halted until ENABLE_CNF, then advances at the
 *      advertised rate: over >= 20 ms of PM timer its ticks are within 2%
 *      of 100 MHz;
 *   3. a one-shot comparator (timer 2, 32-bit mode, edge, route GSI 20)
 *      interrupts exactly once through IOAPIC pin 20 (vector 0x60), not
 *      before the counter reaches the comparator;
 *   4. legacy replacement: periodic timer 0 (VAL_SET, 1 ms) arrives on
 *      IOAPIC pin 2 (vector 0x61) repeatedly and stops when disabled. */
        .include "common.inc"
        GUEST_NAME "hpet"
        .include "lapic.inc"

        .set HPET,       0xfed00000
        .set GCAP_LO,    HPET + 0x000
        .set GCAP_HI,    HPET + 0x004
        .set GEN_CONF,   HPET + 0x010
        .set MAIN_LO,    HPET + 0x0f0
        .set T0_CONF,    HPET + 0x100
        .set T0_CMP,     HPET + 0x108
        .set T2_CONF,    HPET + 0x140
        .set T2_CMP,     HPET + 0x148
        .set PM_TMR,     0x608
        .set PM_20MS,    71591          /* 3579545 * 0.02 */
        .set VEC_OS,     0x60
        .set VEC_LEG,    0x61

oneshot_handler:
        pushl %eax
        movl MAIN_LO, %eax
        movl %eax, os_count
        incl os_irqs
        movl $0, LAPIC_EOI
        popl %eax
        INTR_RETURN

legacy_handler:
        incl leg_irqs
        movl $0, LAPIC_EOI
        INTR_RETURN

main:
        /* ---- 1. capabilities ---- */
        movl GCAP_LO, %eax
        EXPECT %eax, $0x8086a201, 1
        movl GCAP_HI, %eax
        EXPECT %eax, $10000000, 2
        PRINT "hpet: GCAP_ID ok\n"

        /* ---- 2. counter rate against the PM timer ---- */
        movl MAIN_LO, %eax
        EXPECT %eax, $0, 3              /* halted since reset */
        movl $1, GEN_CONF
        movw $PM_TMR, %dx
        inl %dx, %eax
        movl %eax, pm0
        movl MAIN_LO, %eax
        movl %eax, h0
        xorl %ecx, %ecx
1:      movw $PM_TMR, %dx
        inl %dx, %eax
        subl pm0, %eax
        cmpl $PM_20MS, %eax
        jae 2f
        incl %ecx
        cmpl $100000000, %ecx           /* bound */
        jb 1b
        FAIL_MSG 4, "PM timer does not advance"
2:      movl MAIN_LO, %ebx
        movl %eax, pm_delta
        subl h0, %ebx
        movl %ebx, h_delta
        PRINT "hpet: "
        PRINTHEX h_delta
        PRINT " HPET ticks in "
        PRINTHEX pm_delta
        PRINT " PM ticks\n"
        /* A = h_delta * 3579545 must lie in [pm * 98e6, pm * 102e6] */
        movl h_delta, %eax
        movl $3579545, %ebx
        mull %ebx
        movl %eax, a_lo
        movl %edx, a_hi
        movl pm_delta, %eax
        movl $98000000, %ebx
        mull %ebx                       /* edx:eax = lower bound */
        cmpl %edx, a_hi
        ja 3f
        jb 31f
        cmpl %eax, a_lo
        jae 3f
31:     FAIL_MSG 5, "HPET counter slower than 100 MHz - 2%"
3:      movl pm_delta, %eax
        movl $102000000, %ebx
        mull %ebx                       /* upper bound */
        cmpl %edx, a_hi
        jb 4f
        ja 41f
        cmpl %eax, a_lo
        jbe 4f
41:     FAIL_MSG 6, "HPET counter faster than 100 MHz + 2%"
4:      PRINT "hpet: counter rate ok\n"

        /* ---- 3. one-shot through IOAPIC pin 20 ---- */
        SET_GATE VEC_OS, oneshot_handler
        SET_GATE VEC_LEG, legacy_handler
        call lapic_enable
        RTE 20, VEC_OS
        movl $0x104 | (20 << 9), T2_CONF  /* INT_ENB, 32MODE, route 20, edge */
        movl T2_CONF, %eax
        andl $(0x1f << 9), %eax
        EXPECT %eax, $(20 << 9), 7
        movl MAIN_LO, %eax
        addl $200000, %eax              /* 2 ms ahead */
        movl %eax, os_cmp
        movl %eax, T2_CMP
        sti
        WAIT_NONZERO os_irqs, 2000000
        EXPECT %eax, $1, 8
        movl os_count, %eax
        subl os_cmp, %eax
        cmpl $0x80000000, %eax          /* counter - cmp >= 0 (signed) */
        jb 5f
        FAIL_MSG 9, "one-shot interrupt before the comparator matched"
5:      DELAY 2000
        movl os_irqs, %eax
        EXPECT %eax, $1, 10             /* exactly once */
        PRINT "hpet: one-shot interrupt via IOAPIC pin 20 ok\n"

        /* ---- 4. legacy replacement, periodic timer 0 -> pin 2 ---- */
        RTE 2, VEC_LEG
        movl $3, GEN_CONF               /* enable + legacy replacement */
        movl $0x14c, T0_CONF            /* INT_ENB, periodic, VAL_SET, 32MODE */
        movl MAIN_LO, %eax
        addl $100000, %eax
        movl %eax, T0_CMP               /* first match */
        movl $100000, T0_CMP            /* period 1 ms */
        WAIT_ATLEAST leg_irqs, 5, 5000000
        cmpl $5, %eax
        jae 6f
        FAIL_MSG 11, "fewer than 5 periodic legacy interrupts"
6:      movl $0x148, T0_CONF            /* interrupts off */
        DELAY 10
        movl leg_irqs, %ebx
        DELAY 3000
        movl leg_irqs, %eax
        EXPECT %eax, %ebx, 12           /* no more after disabling */
        cli
        PRINT "hpet: legacy replacement periodic ok\n"
        ret

        .data
pm0:      .long 0
h0:       .long 0
pm_delta: .long 0
h_delta:  .long 0
a_lo:     .long 0
a_hi:     .long 0
os_cmp:   .long 0
os_count: .long 0
os_irqs:  .long 0
leg_irqs: .long 0
        .text
