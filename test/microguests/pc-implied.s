/* pc-implied: a config that lists none of the PC platform devices gets them
 * all implied (spec section 3). The config lists only ser8250 and
 * debug-exit; the guest finds: the IOAPIC (version register, 24 pins), both
 * 8259s (IMR roundtrip on 0x21 and 0xa1), the 8254 (read-back status of a
 * programmed channel 2), the RTC (register D 0x80), the 8042 (self test
 * 0x55) and the ACPI PM timer at 0x608 (a 4-byte port that advances). */
        .include "common.inc"
        GUEST_NAME "pc-implied"
main:
        /* IOAPIC */
        movl $0x01, IOAPIC_SEL
        movl IOAPIC_WIN, %eax
        shrl $16, %eax
        andl $0xff, %eax
        EXPECT %eax, $23, 1
        /* 8259 pair: IMR roundtrip */
        movb $0xfb, %al
        outb %al, $0x21
        movb $0xbf, %al
        outb %al, $0xa1
        xorl %eax, %eax
        inb $0x21, %al
        EXPECT %eax, $0xfb, 2
        xorl %eax, %eax
        inb $0xa1, %al
        EXPECT %eax, $0xbf, 3
        movb $0xff, %al
        outb %al, $0x21
        outb %al, $0xa1
        /* 8254: program channel 2 (lohi, mode 3) and read its status */
        movb $0xb6, %al
        outb %al, $0x43
        movb $0x00, %al
        outb %al, $0x42
        movb $0x10, %al
        outb %al, $0x42
        movb $0xe8, %al                 /* read-back: status of ch2 */
        outb %al, $0x43
        xorl %eax, %eax
        inb $0x42, %al
        andl $0x3f, %eax
        EXPECT %eax, $0x36, 4
        /* RTC */
        movb $0x0d, %al
        outb %al, $0x70
        xorl %eax, %eax
        inb $0x71, %al
        EXPECT %eax, $0x80, 5
        /* 8042 self test (bounded waits) */
        movl $64, %ecx
1:      inb $0x64, %al
        testb $0x01, %al
        jz 2f
        inb $0x60, %al
        decl %ecx
        jnz 1b
2:      movl $100000, %ecx
3:      inb $0x64, %al
        testb $0x02, %al
        jz 4f
        decl %ecx
        jnz 3b
4:      movb $0xaa, %al
        outb %al, $0x64
        movl $100000, %ecx
5:      inb $0x64, %al
        testb $0x01, %al
        jnz 6f
        decl %ecx
        jnz 5b
        FAIL_MSG 6, "8042 self test: no answer"
6:      xorl %eax, %eax
        inb $0x60, %al
        EXPECT %eax, $0x55, 7
        /* ACPI PM timer: 3.579545 MHz, 24 or 32 bits; it must move */
        movw $0x608, %dx
        inl %dx, %eax
        movl %eax, %ebx
        movl $100, %ecx
7:      inl %dx, %eax
        cmpl %eax, %ebx
        jne 8f
        decl %ecx
        jnz 7b
        FAIL_MSG 8, "ACPI PM timer at 0x608 does not advance"
8:      cmpl $0xffffffff, %eax
        jne 9f
        FAIL_MSG 9, "ACPI PM timer at 0x608 reads all-ones"
9:      PRINT "pc-implied: IOAPIC, 8259, 8254, RTC, 8042, PM timer present\n"
        ret
