/* pass-io: `pass loc io:0x70,2` (the host's CMOS/RTC index and data
 * ports). Reads CMOS register D (0x0d, read-only: bit 7 "valid RAM and
 * time") through the host's ports three ways: IN, REP INSB of two bytes,
 * and OUTSB of the index; all must agree. Prints the value for the host
 * side (test/pass/run.sh), which reads the same register through /dev/port
 * and compares. Not in tests.tsv: it needs the host side. */
        .include "common.inc"
        GUEST_NAME "pass-io"

main:
        movb $0x0d, %al
        outb %al, $0x70
        xorl %eax, %eax
        inb $0x71, %al
        movl %eax, first
        movb $0x0d, %al
        outb %al, $0x70
        movl $buf, %edi
        movw $0x71, %dx
        movl $2, %ecx
        cld
        rep insb                        /* string I/O: two reads of 0x71 */
        movzbl buf, %eax
        EXPECT %eax, first, 1
        movzbl buf + 1, %eax
        EXPECT %eax, first, 2
        movl $idx, %esi
        movw $0x70, %dx
        outsb                           /* string output of the index */
        xorl %eax, %eax
        inb $0x71, %al
        EXPECT %eax, first, 3
        PRINT "pass-io: cmos register d = "
        PRINTHEX first
        PRINT "\n"
        ret

        .section .rodata
idx:    .byte 0x0d
        .bss
first:  .long 0
buf:    .long 0
