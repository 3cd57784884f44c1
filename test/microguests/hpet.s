/* hpet: the HPET vdev as the BSDs and Linux use it, timed against the ACPI
 * PM timer (3.579545 MHz, port 0x608). Proves:
 *   1. GCAP_ID: vendor 0x8086, 3 timers, 64-bit counter, legacy
 *      replacement capable (low dword 0x8086A201), period 10^7 fs (100 MHz);
 *   2. the main counter is halted until ENABLE_CNF, then advances at the
 *      advertised rate: over >= 20 ms of PM timer its ticks are within 2%
 *      of 100 MHz, each HPET read bracketed by PM timer reads (a host
 *      that deschedules the vCPU widens the bracket, it cannot fail the
 *      check; the interval grows until the brackets are < 1% of it);
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
        .set PM_20MS,    71591          /* 3579545 * 0.02 */
        .set PM_2S,      7159090
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

        /* ---- 2. counter rate against the PM timer ----
         * Each HPET read is bracketed by two PM timer reads (the vCPU may
         * be descheduled between any two exits): the time between the two
         * HPET reads is at least `inner` (end bracket's first PM read minus
         * start bracket's last) and at most `outer` (end bracket's last
         * minus start bracket's first). Too slow means h_delta is below
         * 98% of inner at 100 MHz, too fast above 102% of outer. The
         * interval grows until the brackets are under 1% of it (or 2 s
         * pass), so a host that adds delay widens the bracket instead of
         * failing, and the 2% bound stays a 2% bound on a quiet host. */
        movl MAIN_LO, %eax
        EXPECT %eax, $0, 3              /* halted since reset */
        movl $1, GEN_CONF
        call pm_now
        movl %eax, pm_a
        movl MAIN_LO, %eax
        movl %eax, h0
        call pm_now
        movl %eax, pm_b
        xorl %ecx, %ecx
1:      incl %ecx
        cmpl $10000000, %ecx            /* bound */
        jb 11f
        FAIL_MSG 4, "PM timer does not advance"
11:     call pm_now
        movl %eax, pm_c
        movl MAIN_LO, %eax
        movl %eax, h1
        call pm_now
        movl %eax, pm_d
        movl pm_c, %eax
        subl pm_b, %eax
        movl %eax, inner
        cmpl $PM_20MS, %eax
        jb 1b
        cmpl $PM_2S, %eax
        jae 2f
        movl pm_b, %ebx                 /* bracket widths: (b - a) + (d - c) */
        subl pm_a, %ebx
        addl pm_d, %ebx
        subl pm_c, %ebx
        xorl %edx, %edx
        movl $100, %esi
        divl %esi                       /* eax = inner / 100 */
        cmpl %ebx, %eax
        jb 1b                           /* brackets wider than 1%: go on */
2:      movl pm_d, %eax
        subl pm_a, %eax
        movl %eax, outer
        movl h1, %eax
        subl h0, %eax
        movl %eax, h_delta
        PRINT "hpet: "
        PRINTHEX h_delta
        PRINT " HPET ticks in "
        PRINTHEX inner
        PRINT " .. "
        PRINTHEX outer
        PRINT " PM ticks\n"
        /* slow: h_delta / 100e6 < 0.98 * inner / 3579545 */
        CMP_PRODUCTS h_delta, $3579545, inner, $98000000
        cmpl $0, %eax
        jge 3f
        FAIL_MSG 5, "HPET counter slower than 100 MHz - 2%"
3:      /* fast: h_delta / 100e6 > 1.02 * outer / 3579545 */
        CMP_PRODUCTS h_delta, $3579545, outer, $102000000
        cmpl $0, %eax
        jle 4f
        FAIL_MSG 6, "HPET counter faster than 100 MHz + 2%"
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
pm_a:     .long 0
pm_b:     .long 0
pm_c:     .long 0
pm_d:     .long 0
inner:    .long 0
outer:    .long 0
h0:       .long 0
h1:       .long 0
h_delta:  .long 0
os_cmp:   .long 0
os_count: .long 0
os_irqs:  .long 0
leg_irqs: .long 0
        .text
