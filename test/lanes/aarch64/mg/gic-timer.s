// arm64 micro-guest (raw image, MMU off): the EL1 virtual timer fires its
// interrupt (PPI 27) and the guest takes it through the GIC — the in-kernel
// GICv3 (ICC_* system registers, redistributor at 0x2f100000) or the
// user-space GICv2 of `vdev gic mode user gicd 0x2f000000 gicc 0x2f100000`,
// told apart by the distributor's PIDR2 as in gicd.s. The handler checks
// the acknowledged ID, disables the timer (its level drops) and EOIs. Two
// interrupts are taken (the second from a re-armed timer), then
// "MG-TIMER-OK v2|v3" and PSCI SYSTEM_OFF; a failed check or no interrupt
// within 2 s prints "MG-FAIL check <letter>" and resets.
        .include "common.inc"
        .text
        .global _start
_start:
        pl011   x1        // PL011
        movz    x20, #0x2f00, lsl #16       // GICD
        movz    x22, #0x2f10, lsl #16       // GICC (v2) / GICR (v3)
        mov     x19, #0
        adr     x0, vectors
        msr     vbar_el1, x0
        isb
        ldr     w0, [x20, #0xfe8]           // GICv2 PIDR2
        ubfx    w0, w0, #4, #4
        mov     x21, #2
        cmp     w0, #2
        b.eq    1f
        add     x2, x20, #0xf000
        ldr     w0, [x2, #0xfe8]            // GICv3 PIDR2
        ubfx    w0, w0, #4, #4
        mov     x21, #3
        mov     x19, #1
        cmp     w0, #3
        b.ne    fail
        // GICv3: PPI 27 in the redistributor's SGI frame, ICC_* on.
        mov     w0, #0x13
        str     w0, [x20, #0x0]             // GICD_CTLR: ARE | EnableGrp1 | EnableGrp0
        add     x2, x22, #0x10000
        str     wzr, [x22, #0x14]           // GICR_WAKER: awake
        mov     w0, #0x80
        strb    w0, [x2, #0x41b]            // IPRIORITYR 27
        mov     w0, #(1 << 27)
        ldr     w3, [x2, #0x80]
        orr     w3, w3, w0
        str     w3, [x2, #0x80]             // IGROUPR0: group 1
        str     w0, [x2, #0x100]            // ISENABLER0
        mov     x0, #1
        msr     S3_0_C12_C12_5, x0          // ICC_SRE_EL1
        isb
        msr     S3_0_C12_C12_7, x0          // ICC_IGRPEN1_EL1
        mov     x0, #0xf0
        msr     S3_0_C4_C6_0, x0            // ICC_PMR_EL1
        isb
        b       2f
1:      // GICv2: banked PPI 27 in the distributor, memory-mapped CPU interface.
        mov     w0, #0x80
        strb    w0, [x20, #0x41b]           // IPRIORITYR 27
        mov     w0, #(1 << 27)
        str     w0, [x20, #0x100]           // ISENABLER0
        mov     w0, #1
        str     w0, [x20, #0x0]             // GICD_CTLR
        str     w0, [x22, #0x0]             // GICC_CTLR
        mov     w0, #0xf0
        str     w0, [x22, #0x4]             // GICC_PMR
2:
        mov     x25, #0                     // interrupts taken
        mov     x24, #0                     // re-armed
        mov     x26, #0                     // last acknowledged ID
        mrs     x10, cntfrq_el0
        mov     x19, #2
        cbz     x10, fail
        mrs     x11, cntvct_el0
        add     x11, x11, x10, lsl #1       // deadline: 2 s
        bl      arm
        msr     daifclr, #2                 // unmask IRQs
3:      wfi
        cmp     x25, #2
        b.hs    4f
        cmp     x25, #1
        b.ne    5f
        cbnz    x24, 5f
        mov     x24, #1
        bl      arm                         // re-arm once for a second interrupt
5:      mrs     x12, cntvct_el0
        mov     x19, #3
        cmp     x12, x11
        b.hs    fail                        // no interrupt within 2 s
        b       3b
4:      msr     daifset, #2
        mov     x19, #4
        cmp     x26, #27
        b.ne    fail

        adr     x2, ok
        bl      puts
        mov     w3, #'2'
        cmp     x21, #3
        b.ne    6f
        mov     w3, #'3'
6:      str     w3, [x1]
        mov     w3, #'\n'
        str     w3, [x1]
        psci    PSCI_SYSTEM_OFF
        b       .

// Virtual timer: fire 5 ms from now.
arm:    mrs     x12, cntvct_el0
        lsr     x13, x10, #8                // ~4 ms at any frequency
        add     x12, x12, x13
        msr     cntv_cval_el0, x12
        mov     x12, #1
        msr     cntv_ctl_el0, x12           // ENABLE, not masked
        isb
        ret

irq:    cmp     x21, #3
        b.eq    7f
        ldr     w26, [x22, #0xc]            // GICC_IAR
        b       8f
7:      mrs     x26, S3_0_C12_C12_0         // ICC_IAR1_EL1
8:      and     x27, x26, #0x3ff
        cmp     x27, #1023
        b.eq    9f                          // spurious: nothing to do
        msr     cntv_ctl_el0, xzr           // timer off: its level drops
        isb
        cmp     x21, #3
        b.eq    10f
        str     w26, [x22, #0x10]           // GICC_EOIR
        b       11f
10:     msr     S3_0_C12_C12_1, x26         // ICC_EOIR1_EL1
        isb
11:     mov     x26, x27
        add     x25, x25, #1
9:      eret

unexpected:
        mov     x19, #5
        b       fail

fail:   msr     daifset, #2
        adr     x2, bad
        bl      puts
        add     w3, w19, #'A'
        str     w3, [x1]
        mov     w3, #'\n'
        str     w3, [x1]
        psci    PSCI_SYSTEM_RESET
        b       .

        puts_fn x2, x1

ok:     .asciz  "MG-TIMER-OK v"
bad:    .asciz  "MG-FAIL check "

// EL1 vector table: IRQ from the current EL with SP_ELx goes to irq;
// everything else is unexpected.
        .balign 2048
vectors:
        .rept   5
        b       unexpected
        .balign 128
        .endr
        b       irq                         // +0x280: current EL, SPx, IRQ
        .balign 128
        .rept   10
        b       unexpected
        .balign 128
        .endr
