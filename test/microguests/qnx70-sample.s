/*
 * qnx70-sample: the guest side of QNX 7.0's sample x86_64 configuration
 * (test/qnxcfg/configs/qnx70-x86-sample.qvmconf), which runs it unchanged
 * but for its image path; the runner adds `vdev debug-exit` on the command
 * line for the verdict. Not in tests.tsv: test/qnxcfg/check.py boots it.
 * What the configuration asks for, as a guest sees it:
 *   - the I/O APIC named myioapic at 0xf8000000 (not 0xfec00000): its
 *     version register, 24 pins;
 *   - ser8250 on myioapic:4: the THRE interrupt arrives through that pin
 *     (vector 0x44), and this very console works;
 *   - timer8254 on myioapic:0: channel 0 at ~1 kHz delivers ticks through
 *     pin 0 (vector 0x40); masking the pin stops them;
 *   - mc146818: register D reads 0x80, the seconds register is BCD 00-59;
 *   - the 8259 pair, one instance per chip: IMR round trips at 0x21, 0xa1;
 *   - the HPET at 0xf8008000: vendor id 0x8086 in its capabilities and a
 *     main counter that advances once enabled.
 * Interrupt counts are only required to be non-zero (kvm_pvm reports a
 * level vector's EOI late; see README.md).
 */
        .include "common.inc"
        GUEST_NAME "qnx70-sample"
        /* the configuration's I/O APIC, `loc 0xf8000000 name myioapic` */
        .set IOAPIC,        0xf8000000
        .set IOAPIC_SEL,    IOAPIC + 0x00
        .set IOAPIC_WIN,    IOAPIC + 0x10
        .set HPET,          0xf8008000
        .include "lapic.inc"

        .set UART_VEC, 0x44
        .set PIT_VEC,  0x40

uart_handler:
        pushal
        movw $COM1_IIR, %dx
        inb %dx, %al                      /* clears a THRE interrupt */
        incl uart_irqs
        movl $0, LAPIC_EOI
        popal
        INTR_RETURN

pit_handler:
        incl ticks
        movl $0, LAPIC_EOI
        INTR_RETURN

main:
        SET_GATE UART_VEC, uart_handler
        SET_GATE PIT_VEC, pit_handler
        call lapic_enable

        /* myioapic: version register (max redirection entry 23) */
        movl $0x01, IOAPIC_SEL
        movl IOAPIC_WIN, %eax
        shrl $16, %eax
        andl $0xff, %eax
        EXPECT %eax, $23, 1
        PRINT "qnx70-sample: myioapic at 0xf8000000, 24 pins\n"

        /* ser8250 -> myioapic:4 */
        RTE 4, UART_VEC
        sti
        movw $COM1_IER, %dx
        movb $0x02, %al                   /* THRE */
        outb %al, %dx
        WAIT_NONZERO uart_irqs, 200000
        movw $COM1_IER, %dx
        xorb %al, %al
        outb %al, %dx
        cmpl $0, uart_irqs
        jne 1f
        FAIL_MSG 2, "no THRE interrupt through myioapic:4"
1:      RTE 4, UART_VEC | RTE_MASKED
        PRINT "qnx70-sample: ser8250 THRE interrupt through myioapic:4\n"

        /* timer8254 -> myioapic:0, channel 0 mode 2 at ~1 kHz */
        RTE 0, PIT_VEC
        movb $0x34, %al
        outb %al, $0x43
        movb $(1193 & 0xff), %al
        outb %al, $0x40
        movb $(1193 >> 8), %al
        outb %al, $0x40
        WAIT_ATLEAST ticks, 5, 300000
        cmpl $5, %eax
        jae 2f
        FAIL_MSG 3, "fewer than 5 PIT ticks through myioapic:0"
2:      RTE 0, PIT_VEC | RTE_MASKED
        movl ticks, %ebx
        DELAY 5000
        movl ticks, %eax
        subl %ebx, %eax
        cmpl $1, %eax                     /* one may have been in flight */
        jbe 3f
        FAIL_MSG 4, "PIT ticks kept arriving with myioapic:0 masked"
3:      cli
        PRINT "qnx70-sample: timer8254 ticks through myioapic:0\n"

        /* mc146818 */
        movb $0x0d, %al
        outb %al, $0x70
        xorl %eax, %eax
        inb $0x71, %al
        EXPECT %eax, $0x80, 5
        movb $0x00, %al                   /* seconds, BCD by default */
        outb %al, $0x70
        xorl %eax, %eax
        inb $0x71, %al
        movl %eax, %ebx
        andl $0x0f, %ebx
        cmpl $9, %ebx
        ja 4f
        cmpl $0x59, %eax
        jbe 5f
4:      FAIL_MSG 6, "RTC seconds not BCD 00-59"
5:
        /* the 8259 pair, one instance per chip */
        movb $0xfb, %al
        outb %al, $0x21
        movb $0xbf, %al
        outb %al, $0xa1
        xorl %eax, %eax
        inb $0x21, %al
        EXPECT %eax, $0xfb, 7
        xorl %eax, %eax
        inb $0xa1, %al
        EXPECT %eax, $0xbf, 8
        movb $0xff, %al
        outb %al, $0x21
        outb %al, $0xa1
        PRINT "qnx70-sample: mc146818 and the 8259 pair\n"

        /* HPET at 0xf8008000: vendor 0x8086, counter advances when enabled */
        movl HPET, %eax
        shrl $16, %eax
        EXPECT %eax, $0x8086, 9
        movl $1, HPET + 0x10              /* ENABLE_CNF */
        movl HPET + 0xf0, %ebx
        DELAY 100
        movl HPET + 0xf0, %eax
        cmpl %ebx, %eax
        jne 6f
        FAIL_MSG 10, "HPET main counter did not advance"
6:      movl $0, HPET + 0x10
        PRINT "qnx70-sample: HPET at 0xf8008000\n"
        ret

        .bss
uart_irqs: .long 0
ticks:     .long 0
