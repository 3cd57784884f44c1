/* pio: port I/O exits of every size. Proves that qvm decodes IN/OUT of 1, 2
 * and 4 bytes (immediate and DX forms), routes them to the owning vdev (the
 * 16550's scratch register, the only UART register with no side effects),
 * and that reads of a port nobody owns return all-ones of the access size
 * under `unsupported ignore` (writes there are dropped). */
        .include "common.inc"
        GUEST_NAME "pio"
main:
        /* 1. byte out/in through DX, two patterns */
        movw $COM1_SCR, %dx
        movb $0x5a, %al
        outb %al, %dx
        xorl %eax, %eax
        inb %dx, %al
        EXPECT %eax, $0x5a, 1
        movb $0xa5, %al
        outb %al, %dx
        movl $0x12345600, %eax          /* upper bytes must survive inb */
        inb %dx, %al
        EXPECT %eax, $0x123456a5, 2
        PRINT "pio: 1-byte SCR roundtrip ok\n"

        /* 2. unassigned port, 1/2/4-byte reads: all-ones of the size, and
         * the untouched part of EAX is preserved */
        movw $UNASSIGNED_PORT, %dx
        movl $0x11223344, %eax
        inb %dx, %al
        EXPECT %eax, $0x112233ff, 3
        movl $0x11223344, %eax
        inw %dx, %ax
        EXPECT %eax, $0x1122ffff, 4
        xorl %eax, %eax
        inl %dx, %eax
        EXPECT %eax, $0xffffffff, 5
        /* writes there are dropped: a following read is still all-ones */
        movl $0x01020304, %eax
        outl %eax, %dx
        outw %ax, %dx
        outb %al, %dx
        xorl %eax, %eax
        inl %dx, %eax
        EXPECT %eax, $0xffffffff, 6
        /* the immediate-port forms */
        xorl %eax, %eax
        inb $0xe0, %al
        EXPECT %eax, $0xff, 7
        xorl %eax, %eax
        inw $0xe0, %ax
        EXPECT %eax, $0xffff, 8
        xorl %eax, %eax
        inl $0xe0, %eax
        EXPECT %eax, $0xffffffff, 9
        PRINT "pio: unassigned port reads all-ones ok\n"

        /* 3. 2- and 4-byte accesses to the UART's scratch register */
        call wide_scr
        PRINT "pio: 2/4-byte SCR accesses ok\n"

        /* 4. the UART still works: SCR byte roundtrip once more */
        movw $COM1_SCR, %dx
        movb $0x3c, %al
        outb %al, %dx
        xorl %eax, %eax
        inb %dx, %al
        EXPECT %eax, $0x3c, 20
        ret

        .include "wide-scr.inc"
