/* pit-irq: the 8254 vdev as a periodic interrupt source. Channel 0 in mode 2
 * (rate generator) at ~1 kHz (count 1193), IRQ0 wired to IOAPIC pin 2
 * (config default `intr ioapic:2`), vector 0x42. Proves: the control word
 * and lobyte/hibyte count are accepted; the read-back status shows the
 * programmed mode; a latched count reads back in range and changes (8 tries:
 * a count read whole periods later may match); at least 20 ticks arrive
 * (timer callbacks -> interrupt line -> IOAPIC -> LAPIC); masking the RTE
 * stops delivery. */
        .include "common.inc"
        GUEST_NAME "pit-irq"
        .include "lapic.inc"

        .set VEC, 0x42
        .set PIN, 2
        .set COUNT, 1193

pit_handler:
        incl ticks
        movl $0, LAPIC_EOI
        INTR_RETURN

/* latch channel 0 and read the 16-bit count into %eax */
pit_latch:
        pushl %edx
        movb $0x00, %al                 /* counter latch, channel 0 */
        outb %al, $0x43
        inb $0x40, %al
        movb %al, %dl
        inb $0x40, %al
        movb %al, %dh
        movzwl %dx, %eax
        popl %edx
        ret

main:
        SET_GATE VEC, pit_handler
        call lapic_enable
        RTE PIN, VEC
        movl $0, ticks
        movb $0x34, %al                 /* ch0, lobyte/hibyte, mode 2, binary */
        outb %al, $0x43
        movb $(COUNT & 0xff), %al
        outb %al, $0x40
        movb $(COUNT >> 8), %al
        outb %al, $0x40

        /* read-back status of channel 0: RW=11, mode 2, binary */
        movb $0xe2, %al                 /* read-back, latch status, ch0 */
        outb %al, $0x43
        xorl %eax, %eax
        inb $0x40, %al
        andl $0x3f, %eax
        EXPECT %eax, $0x34, 1

        /* latched counts: within 1..COUNT, and time passes */
        call pit_latch
        movl %eax, %ebx
        cmpl $1, %ebx
        jb 1f
        cmpl $COUNT, %ebx
        jbe 2f
1:      FAIL_MSG 2, "latched count outside 1..1193"
2:      movl $20, %ecx                  /* a read exactly whole periods
                                         * later (a descheduled vCPU) can
                                         * match: 8 tries, each a port read
                                         * longer */
21:     pushl %ecx
        call delay
        popl %ecx
        call pit_latch
        cmpl %eax, %ebx
        jne 3f
        incl %ecx
        cmpl $28, %ecx
        jb 21b
        FAIL_MSG 3, "latched count did not change over 8 tries of 20-27 port reads"
3:      PRINT "pit-irq: status and latched count ok\n"

        sti
        WAIT_ATLEAST ticks, 20, 300000
        cmpl $20, %eax
        jae 4f
        PRINT "pit-irq: ticks seen "
        PRINTHEX ticks
        PRINT "\n"
        FAIL_MSG 4, "fewer than 20 ticks from PIT channel 0"
4:      PRINT "pit-irq: 20 ticks received\n"

        /* mask the RTE: ticks stop */
        RTE PIN, VEC | RTE_MASKED
        movl ticks, %ebx
        DELAY 5000
        movl ticks, %eax
        subl %ebx, %eax
        cmpl $1, %eax                   /* one may have been in flight */
        jbe 5f
        PRINT "pit-irq: ticks after mask "
        PRINTHEX %eax
        PRINT "\n"
        FAIL_MSG 5, "ticks kept arriving with the RTE masked"
5:      cli
        movb $0x30, %al                 /* ch0 mode 0, no count: stop */
        outb %al, $0x43
        PRINT "pit-irq: masking stops ticks ok\n"
        ret

        .bss
ticks:  .long 0
        .text
