// arm64 micro-guest (raw image, MMU off, IRQs masked): GIC distributor and
// CPU-interface register checks, run against whichever GIC the VM has at
// GICD 0x2f000000: the in-kernel GICv3 (CPU interface = ICC_* system
// registers, redistributor at 0x2f100000) or the user-space GICv2 of
// `vdev gic mode user gicd 0x2f000000 gicc 0x2f100000`. The version comes
// from the distributor's PIDR2 (GICv2: offset 0xfe8, GICv3: 0xffe8).
// Prints "MG-GICD-OK v2|v3" and powers off (PSCI SYSTEM_OFF); on a failed
// check prints "MG-FAIL <n>" (n = the check) and resets.
        .include "common.inc"
        .text
        .global _start
_start:
        pl011   x1        // PL011
        movz    x20, #0x2f00, lsl #16       // GICD
        movz    x22, #0x2f10, lsl #16       // GICC (v2) / GICR (v3)
        mov     x19, #0                     // check number
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
1:
        // -- distributor, both versions --
        mov     x19, #2                     // TYPER.ITLinesNumber: 256 IDs
        ldr     w0, [x20, #0x4]
        and     w0, w0, #0x1f
        cmp     w0, #7
        b.ne    fail
        mov     x19, #3                     // IIDR implementer: ARM's JEP106 code
        ldr     w0, [x20, #0x8]
        and     w0, w0, #0xfff
        mov     w2, #0x43b
        cmp     w0, w2
        b.ne    fail
        mov     w3, #(1 << 8)               // SPI 40 = word 1, bit 8
        mov     x19, #4                     // ISENABLER / ICENABLER
        str     w3, [x20, #0x104]
        ldr     w0, [x20, #0x104]
        tst     w0, w3
        b.eq    fail
        mov     x19, #5
        str     w3, [x20, #0x184]
        ldr     w0, [x20, #0x104]
        tst     w0, w3
        b.ne    fail
        mov     x19, #6                     // ISPENDR / ICPENDR
        str     w3, [x20, #0x204]
        ldr     w0, [x20, #0x204]
        tst     w0, w3
        b.eq    fail
        mov     x19, #7
        str     w3, [x20, #0x284]
        ldr     w0, [x20, #0x204]
        tst     w0, w3
        b.ne    fail
        mov     x19, #8                     // IPRIORITYR, byte access
        mov     w0, #0xa0
        strb    w0, [x20, #0x428]
        ldrb    w0, [x20, #0x428]
        cmp     w0, #0xa0
        b.ne    fail
        cmp     x21, #3
        b.eq    v3

        // -- GICv2: memory-mapped CPU interface --
v2:     mov     w0, #1
        str     w0, [x20, #0x0]             // GICD_CTLR: enable
        strb    w0, [x20, #0x828]           // ITARGETSR 40: CPU 0
        str     w0, [x22, #0x0]             // GICC_CTLR: enable
        mov     w0, #0x80
        str     w0, [x22, #0x4]             // PMR 0x80 masks priority 0xa0
        str     w3, [x20, #0x104]           // enable SPI 40
        str     w3, [x20, #0x204]           // pend it
        mov     x19, #10
        ldr     w0, [x22, #0xc]             // IAR: masked -> spurious
        mov     w2, #1023
        cmp     w0, w2
        b.ne    fail
        mov     x19, #11
        ldr     w0, [x22, #0x18]            // HPPIR: 40 regardless of the mask
        cmp     w0, #40
        b.ne    fail
        mov     w0, #0xf0
        str     w0, [x22, #0x4]             // PMR 0xf0
        mov     x19, #12
        ldr     w0, [x22, #0xc]             // IAR: 40
        cmp     w0, #40
        b.ne    fail
        mov     x19, #13
        ldr     w4, [x22, #0x14]            // RPR: 0xa0
        cmp     w4, #0xa0
        b.ne    fail
        str     w0, [x22, #0x10]            // EOIR
        mov     x19, #14
        ldr     w0, [x22, #0xc]
        mov     w2, #1023
        cmp     w0, w2
        b.ne    fail
        mov     x19, #15                    // SGI 3 to self through GICD_SGIR
        mov     w0, #(1 << 3)
        str     w0, [x20, #0x100]
        mov     w0, #0x80
        strb    w0, [x20, #0x403]
        movz    w0, #0x0200, lsl #16        // filter 2 (self)
        orr     w0, w0, #3
        str     w0, [x20, #0xf00]
        ldr     w0, [x22, #0xc]
        cmp     w0, #3                      // SGI 3, source CPU 0
        b.ne    fail
        str     w0, [x22, #0x10]
        b       pass

        // -- GICv3: ICC_* system registers --
v3:     mov     w0, #0x13                   // ARE | EnableGrp1 | EnableGrp0
        str     w0, [x20, #0x0]
        add     x2, x20, #0x6000
        str     xzr, [x2, #0x140]           // IROUTER 40: affinity 0.0.0.0
        ldr     w0, [x20, #0x84]
        orr     w0, w0, w3
        str     w0, [x20, #0x84]            // IGROUPR1: SPI 40 in group 1
        mov     x0, #1
        msr     S3_0_C12_C12_5, x0          // ICC_SRE_EL1.SRE
        isb
        msr     S3_0_C12_C12_7, x0          // ICC_IGRPEN1_EL1
        mov     x0, #0x80
        msr     S3_0_C4_C6_0, x0            // ICC_PMR_EL1 0x80 masks 0xa0
        isb
        str     w3, [x20, #0x104]
        str     w3, [x20, #0x204]
        dsb     sy
        mov     x19, #20
        mrs     x0, S3_0_C12_C12_0          // ICC_IAR1_EL1: spurious
        mov     x2, #1023
        cmp     x0, x2
        b.ne    fail
        mov     x0, #0xf0
        msr     S3_0_C4_C6_0, x0
        isb
        mov     x19, #21
        mrs     x0, S3_0_C12_C12_0          // 40
        cmp     x0, #40
        b.ne    fail
        msr     S3_0_C12_C12_1, x0          // ICC_EOIR1_EL1
        isb
        mov     x19, #22
        mrs     x0, S3_0_C12_C12_0
        mov     x2, #1023
        cmp     x0, x2
        b.ne    fail
        mov     x19, #23                    // SGI 3 to self through ICC_SGI1R_EL1
        add     x2, x22, #0x10000           // redistributor SGI frame
        mov     w0, #(1 << 3)
        str     w0, [x2, #0x100]
        mov     w0, #0x80
        strb    w0, [x2, #0x403]
        dsb     sy
        movz    x0, #0x0300, lsl #16        // INTID 3 (bits 27:24), target list CPU 0
        orr     x0, x0, #1
        msr     S3_0_C12_C11_5, x0
        isb
        mov     x9, #1000                   // the SGI arrives at the next entry
3:      mrs     x0, S3_0_C12_C12_0
        cmp     x0, #3
        b.eq    4f
        subs    x9, x9, #1
        b.ne    3b
        b       fail
4:      msr     S3_0_C12_C12_1, x0
        isb

pass:   adr     x2, ok
        bl      puts
        mov     w3, #'2'
        cmp     x21, #3
        b.ne    5f
        mov     w3, #'3'
5:      str     w3, [x1]
        mov     w3, #'\n'
        str     w3, [x1]
        psci    PSCI_SYSTEM_OFF
        b       .

fail:   adr     x2, bad
        bl      puts
        add     w3, w19, #'A'               // check number as a letter (A = 0)
        str     w3, [x1]
        mov     w3, #'\n'
        str     w3, [x1]
        psci    PSCI_SYSTEM_RESET
        b       .

        puts_fn x2, x1

ok:     .asciz  "MG-GICD-OK v"
bad:    .asciz  "MG-FAIL check "
