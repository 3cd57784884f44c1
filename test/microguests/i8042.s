/* i8042: the pckeyboard vdev (8042 controller, data 0x60, status/command
 * 0x64). Proves: controller self test 0xAA answers 0x55; the command byte
 * (0x20 read / 0x60 write) roundtrips and its system-flag bit shows in the
 * status register; keyboard interface test 0xAB answers 0x00; the keyboard
 * device answers reset (0xFF -> 0xFA 0xAA) and identify (0xF2 -> 0xFA 0xAB
 * 0x83) with translation off; the output buffer empties after reads. Every
 * wait is bounded (IBF clear before writes, OBF set before reads). */
        .include "common.inc"
        GUEST_NAME "i8042"

/* wait until the input buffer is empty (status bit 1 clear) */
wait_ibf:
        pushl %ecx
        movl $100000, %ecx
1:      inb $0x64, %al
        testb $0x02, %al
        jz 2f
        decl %ecx
        jnz 1b
        FAIL_MSG 28, "input buffer never emptied"
2:      popl %ecx
        ret

/* read one byte from the output buffer into %eax (waits for OBF) */
read_obf:
        pushl %ecx
        movl $100000, %ecx
1:      inb $0x64, %al
        testb $0x01, %al
        jnz 2f
        decl %ecx
        jnz 1b
        FAIL_MSG 29, "no byte arrived in the output buffer"
2:      xorl %eax, %eax
        inb $0x60, %al
        popl %ecx
        ret

/* drain whatever is in the output buffer (bounded) */
drain:
        pushl %ecx
        movl $64, %ecx
1:      inb $0x64, %al
        testb $0x01, %al
        jz 2f
        inb $0x60, %al
        decl %ecx
        jnz 1b
2:      popl %ecx
        ret

        .macro CMD c
        call wait_ibf
        movb $\c, %al
        outb %al, $0x64
        .endm
        .macro DATA d
        call wait_ibf
        movb $\d, %al
        outb %al, $0x60
        .endm

main:
        call drain
        /* 1. self test */
        CMD 0xaa
        call read_obf
        EXPECT %eax, $0x55, 1
        PRINT "i8042: self test 0x55 ok\n"

        /* 2. command byte */
        CMD 0x20
        call read_obf
        movl %eax, saved_cb
        PRINT "i8042: command byte was "
        PRINTHEX saved_cb
        PRINT "\n"
        CMD 0x60
        DATA 0x34                       /* sysflag, kbd+aux disabled, no IRQs */
        CMD 0x20
        call read_obf
        EXPECT %eax, $0x34, 2
        inb $0x64, %al
        movzbl %al, %eax
        andl $0x04, %eax
        EXPECT %eax, $0x04, 3           /* status SYS follows the flag */
        CMD 0x60
        DATA 0x04                       /* sysflag, kbd enabled, no xlate */
        CMD 0x20
        call read_obf
        EXPECT %eax, $0x04, 4
        PRINT "i8042: command byte roundtrip ok\n"

        /* 3. keyboard interface test */
        CMD 0xab
        call read_obf
        EXPECT %eax, $0x00, 5
        PRINT "i8042: keyboard interface test 0x00 ok\n"

        /* 4. keyboard device: reset and identify */
        DATA 0xff
        call read_obf
        EXPECT %eax, $0xfa, 6
        call read_obf
        EXPECT %eax, $0xaa, 7
        DATA 0xf2
        call read_obf
        EXPECT %eax, $0xfa, 8
        call read_obf
        EXPECT %eax, $0xab, 9
        call read_obf
        EXPECT %eax, $0x83, 10
        inb $0x64, %al
        movzbl %al, %eax
        andl $0x01, %eax
        EXPECT %eax, $0, 11             /* nothing left in the buffer */
        PRINT "i8042: keyboard reset and identify ok\n"

        /* restore the command byte found at start */
        CMD 0x60
        call wait_ibf
        movl saved_cb, %eax
        outb %al, $0x60
        ret

        .bss
saved_cb: .long 0
        .text
