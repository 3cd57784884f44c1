/* string-io: REP INS/OUTS exits (KVM reports them as one exit with count > 1,
 * qvm must walk every element). Proves: `rep outsb` of a message to the UART
 * THR appears intact and in order; `rep insb` from the scratch register fills
 * every byte with DF=0 and with DF=1 (guard bytes untouched, ECX/EDI right);
 * `rep outsb` + `rep insb` through the UART's loopback FIFO keep the byte
 * order; `rep outsw/outsd` consume exactly ECX elements (ESI advanced by
 * 2*N / 4*N) and `rep insw/insd` from an unassigned port store all-ones in
 * every element under `unsupported ignore`. */
        .include "common.inc"
        GUEST_NAME "string-io"

        .section .rodata
msg:    .ascii "string-io: this line was sent by one rep outsb to the THR\n"
msg_end:
        .set MSG_LEN, msg_end - msg
pattern:
        .ascii "ABCDEFGHIJKLMNOP"
        .text

main:
        /* 1. rep outsb to THR */
        movl $msg, %esi
        movl $MSG_LEN, %ecx
        movw $COM1_THR, %dx
        rep outsb
        EXPECT %ecx, $0, 1
        EXPECT %esi, $msg_end, 2

        /* 2. rep insb from SCR, DF=0 */
        movb $0xee, buf - 1
        movb $0xee, buf + 16
        movw $COM1_SCR, %dx
        movb $0x3c, %al
        outb %al, %dx
        movl $buf, %edi
        movl $16, %ecx
        rep insb
        EXPECT %ecx, $0, 3
        EXPECT %edi, $buf+16, 4
        movl $buf, %esi
        movl $0x3c3c3c3c, %ebx
        EXPECT 0(%esi), %ebx, 5
        EXPECT 4(%esi), %ebx, 5
        EXPECT 8(%esi), %ebx, 5
        EXPECT 12(%esi), %ebx, 5
        movzbl buf - 1, %eax
        EXPECT %eax, $0xee, 6
        movzbl buf + 16, %eax
        EXPECT %eax, $0xee, 6

        /* 3. rep insb from SCR, DF=1 (fills buf+15 down to buf) */
        movb $0x7e, %al
        outb %al, %dx
        movl $buf + 15, %edi
        movl $16, %ecx
        std
        rep insb
        cld
        EXPECT %ecx, $0, 7
        EXPECT %edi, $buf-1, 8
        movl $0x7e7e7e7e, %ebx
        EXPECT buf, %ebx, 9
        EXPECT buf+4, %ebx, 9
        EXPECT buf+8, %ebx, 9
        EXPECT buf+12, %ebx, 9
        movzbl buf - 1, %eax
        EXPECT %eax, $0xee, 10
        movzbl buf + 16, %eax
        EXPECT %eax, $0xee, 10
        PRINT "string-io: rep insb DF=0/DF=1 ok\n"

        /* 4. loopback: rep outsb 16 bytes into the RX FIFO, rep insb back */
        movw $COM1_FCR, %dx
        movb $0x07, %al
        outb %al, %dx                   /* FIFOs on and cleared */
        movw $COM1_MCR, %dx
        movb $0x10, %al
        outb %al, %dx                   /* loopback */
        movl $pattern, %esi
        movl $16, %ecx
        movw $COM1_THR, %dx
        rep outsb
        movl $buf, %edi
        movl $16, %ecx
        rep insb                        /* RBR, same port */
        movw $COM1_MCR, %dx
        movb $0x0b, %al
        outb %al, %dx                   /* loopback off */
        movl pattern, %ebx
        EXPECT buf, %ebx, 11
        movl pattern + 4, %ebx
        EXPECT buf+4, %ebx, 11
        movl pattern + 8, %ebx
        EXPECT buf+8, %ebx, 11
        movl pattern + 12, %ebx
        EXPECT buf+12, %ebx, 11
        PRINT "string-io: loopback rep outsb/insb order ok\n"

        /* 5. rep outsw / outsd to an unassigned port: element counts */
        movw $UNASSIGNED_PORT, %dx
        movl $pattern, %esi
        movl $7, %ecx
        rep outsw
        EXPECT %ecx, $0, 12
        EXPECT %esi, $pattern+14, 13
        movl $pattern, %esi
        movl $3, %ecx
        rep outsl
        EXPECT %ecx, $0, 14
        EXPECT %esi, $pattern+12, 15

        /* 6. rep insw / insd from an unassigned port: all-ones everywhere */
        movl $0, buf
        movl $0, buf + 4
        movl $0, buf + 8
        movl $0, buf + 12
        movl $buf, %edi
        movl $5, %ecx
        rep insw                        /* buf[0..9] */
        EXPECT %ecx, $0, 16
        EXPECT %edi, $buf+10, 17
        EXPECT buf, $0xffffffff, 18
        EXPECT buf+4, $0xffffffff, 18
        movzwl buf + 8, %eax
        EXPECT %eax, $0xffff, 18
        movzwl buf + 10, %eax
        EXPECT %eax, $0, 19             /* nothing past the last element */
        movl $0, buf
        movl $0, buf + 4
        movl $0, buf + 8
        movl $buf, %edi
        movl $2, %ecx
        rep insl
        EXPECT %ecx, $0, 20
        EXPECT %edi, $buf+8, 21
        EXPECT buf, $0xffffffff, 22
        EXPECT buf+4, $0xffffffff, 22
        EXPECT buf+8, $0, 23

        /* 7. rep outsw to the UART's MSR/SCR pair: the last element's high
         * byte is in SCR (byte-lane semantics, see wide-scr.inc) */
        movw $0x1100, words
        movw $0x2200, words + 2
        movw $0x3300, words + 4
        movl $words, %esi
        movl $3, %ecx
        movw $COM1_MSR, %dx
        rep outsw
        EXPECT %ecx, $0, 24
        movw $COM1_SCR, %dx
        xorl %eax, %eax
        inb %dx, %al
        EXPECT %eax, $0x33, 25
        PRINT "string-io: rep outsw/outsd/insw/insd counts ok\n"
        ret

        .bss
        .balign 16
        .skip 16
buf:    .skip 32
words:  .skip 16
        .text
