/* irq: interrupt delivery from a vdev through the IOAPIC vdev to the
 * in-kernel LAPIC. The UART (ioapic:4) raises its THRE interrupt; IOAPIC pin
 * 4 is routed to vector 0x41 (fixed, physical, destination APIC 0). Proves:
 *  - edge RTE: exactly one interrupt per THRE event, the handler sees IIR
 *    0xC2 (THRE, FIFOs on), EOI through the LAPIC works, no interrupt storm;
 *  - LAPIC TPR holds a pending vector back until lowered;
 *  - masked edge RTE: an edge while masked is not delivered.
 * The level-triggered half is irq-level.s. */
        .include "common.inc"
        GUEST_NAME "irq"
        .include "lapic.inc"

        .include "irq.inc"

main:
        IRQ_START

        /* A. edge */
        RTE PIN, VEC
        movl $0, irq_count
        sti
        DELAY 200
        EXPECT irq_count, $0, 2         /* nothing pending yet */
        IER 0x02                        /* THRE pending: line goes high */
        WAIT_NONZERO irq_count, 50000
        EXPECT %eax, $1, 3              /* delivered */
        DELAY 500
        EXPECT irq_count, $1, 4         /* exactly once */
        EXPECT last_iir, $0xc2, 5
        cli
        call uart_quiet
        PRINT "irq: edge-triggered THRE interrupt delivered once, IIR 0xC2\n"

        /* B. TPR above the vector's class holds it back */
        movl $0, irq_count
        movl $0x50, LAPIC_TPR
        sti
        IER 0x02
        DELAY 500
        EXPECT irq_count, $0, 6
        movl $0, LAPIC_TPR
        WAIT_NONZERO irq_count, 50000
        EXPECT %eax, $1, 7
        cli
        call uart_quiet
        PRINT "irq: LAPIC TPR blocks and releases ok\n"

        /* D. masked edge: not delivered */
        RTE PIN, VEC | RTE_MASKED
        movl $0, irq_count
        sti
        IER 0x02
        DELAY 1000
        cli
        EXPECT irq_count, $0, 14
        call uart_quiet
        PRINT "irq: masked edge not delivered ok\n"
        ret

        .text
