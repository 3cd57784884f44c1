/* irq-level: level-triggered delivery from a vdev through the IOAPIC vdev to the
 * in-kernel LAPIC. The UART (ioapic:4) raises its THRE interrupt; IOAPIC pin
 * 4 is routed to vector 0x41 (fixed, physical, destination APIC 0). Proves:
 *  - level RTE: nothing while masked, delivery on unmask with the line high,
 *    the EOI of a level vector reaches the IOAPIC (remote IRR cleared: a
 *    second THRE event is delivered again), exactly once each.
 * Needs an accelerator that reports the guest's EOI of a level vector
 * (KVM_EXIT_IOAPIC_EOI) when the guest writes it: kvm_pvm reports it late,
 * at the next interrupt injection, so the IOAPIC sees the EOI before the
 * handler has cleared the source and delivers again (run.sh skips this row
 * there; the emulated-host lanes run it on KVM proper). */
        .include "common.inc"
        GUEST_NAME "irq-level"
        .include "lapic.inc"

        .include "irq.inc"

main:
        IRQ_START

        /* C. level: masked with the line high, then unmasked */
        RTE PIN, VEC | RTE_LEVEL | RTE_MASKED
        movl $0, irq_count
        sti
        IER 0x02
        DELAY 500
        EXPECT irq_count, $0, 8         /* masked */
        RTE PIN, VEC | RTE_LEVEL        /* unmask: the line is high */
        WAIT_NONZERO irq_count, 50000
        EXPECT %eax, $1, 9
        DELAY 500
        EXPECT irq_count, $1, 10        /* line dropped before EOI */
        EXPECT last_iir, $0xc2, 11
        /* a new THRE event (a THR write) after that EOI is delivered again */
        movw $COM1_THR, %dx
        movb $'+', %al
        outb %al, %dx
        WAIT_ATLEAST irq_count, 2, 50000
        EXPECT %eax, $2, 12
        DELAY 500
        EXPECT irq_count, $2, 13
        cli
        call uart_quiet
        PRINT "\nirq: level-triggered delivery, unmask and EOI ok\n"

        ret

