/* string-io-wide: the REP INS/OUTS variants string-io does not cover.
 * Proves: `rep insd` of 1100 elements from the 32-bit ACPI PM timer into a
 * buffer that crosses page boundaries performs exactly 1100 separate reads
 * (values never decrease, not all equal, ECX = 0, EDI advanced by 4400,
 * guard dwords on both sides intact); `rep insb` of 5000 bytes (more than a
 * page: kvm_pvm splits it into several exits) fills every byte and nothing
 * more; `rep outsw` and `rep outsd` with DF=1 send exactly ECX elements
 * highest address first (the last element sent is the lowest one, seen in
 * COM1's scratch register through the wide-access byte lanes) and leave
 * ESI one element below the buffer; `rep insw` with DF=1 from the PM timer
 * fills downwards. */
        .include "common.inc"
        GUEST_NAME "string-io-wide"

        .set PM_TMR, 0x608
        .set N_D, 1100
        .set N_B, 5000

main:
        /* 1. rep insd from the PM timer across pages */
        movl $0xdeadbeef, %eax
        movl %eax, big - 4
        movl %eax, big + N_D * 4
        movw $PM_TMR, %dx
        movl $big, %edi
        movl $N_D, %ecx
        rep insl
        EXPECT %ecx, $0, 1
        EXPECT %edi, $big+N_D*4, 2
        EXPECT big-4, $0xdeadbeef, 3
        EXPECT big+N_D*4, $0xdeadbeef, 3
        movl $big, %esi
        movl (%esi), %ebx               /* previous */
        movl $1, %ecx
1:      movl (%esi,%ecx,4), %eax
        cmpl %ebx, %eax
        jae 2f
        pushl %ebx
        pushl %eax
        pushl $4
        call fail                       /* timer went backwards */
2:      movl %eax, %ebx
        incl %ecx
        cmpl $N_D, %ecx
        jb 1b
        cmpl big, %ebx
        jne 3f
        FAIL_MSG 5, "1100 PM timer reads all equal (not one read per element)"
3:      PRINT "string-io-wide: rep insd across pages ok\n"

        /* 2. rep insb, 5000 bytes from SCR */
        movw $COM1_SCR, %dx
        movb $0x5a, %al
        outb %al, %dx
        movb $0x11, big - 1
        movb $0x22, big + N_B
        movl $big, %edi
        movl $N_B, %ecx
        rep insb
        EXPECT %ecx, $0, 6
        EXPECT %edi, $big+N_B, 7
        movl $big, %esi
        xorl %ecx, %ecx
4:      movzbl (%esi,%ecx), %eax
        EXPECT %eax, $0x5a, 8
        incl %ecx
        cmpl $N_B, %ecx
        jb 4b
        movzbl big - 1, %eax
        EXPECT %eax, $0x11, 9
        movzbl big + N_B, %eax
        EXPECT %eax, $0x22, 9
        PRINT "string-io-wide: rep insb of 5000 bytes ok\n"

        /* 3. rep outsw DF=1 to 0x3fe: the high byte lands in SCR */
        movl $words + 4, %esi           /* last of 3 words */
        movl $3, %ecx
        movw $COM1_SCR - 1, %dx
        std
        rep outsw
        cld
        EXPECT %ecx, $0, 10
        EXPECT %esi, $words-2, 11
        movw $COM1_SCR, %dx
        inb %dx, %al
        EXPECTB %al, $0xa1, 12          /* high byte of words[0] */

        /* 4. rep outsd DF=1 to 0x3fc: byte 3 lands in SCR */
        movl $dwords + 8, %esi
        movl $3, %ecx
        movw $COM1_SCR - 3, %dx
        std
        rep outsl
        cld
        EXPECT %ecx, $0, 13
        EXPECT %esi, $dwords-4, 14
        movw $COM1_SCR, %dx
        inb %dx, %al
        EXPECTB %al, $0xb1, 15          /* byte 3 of dwords[0] */
        PRINT "string-io-wide: rep outsw/outsd DF=1 ok\n"

        /* 5. rep insw DF=1 from the PM timer (low 16 bits) */
        movl $0x33333333, big
        movl $0x33333333, big + 12
        movl $big + 10, %edi            /* fill big+4 .. big+11 downwards */
        movl $4, %ecx
        movw $PM_TMR, %dx
        std
        rep insw
        cld
        EXPECT %ecx, $0, 16
        EXPECT %edi, $big+2, 17
        EXPECT big, $0x33333333, 18
        EXPECT big+12, $0x33333333, 18
        PRINT "string-io-wide: rep insw DF=1 ok\n"
        ret

        .section .rodata
        .balign 4
        .word 0
words:  .word 0xa1a0, 0xa3a2, 0xa5a4
        .balign 4
        .long 0
dwords: .long 0xb1000000, 0xb2000000, 0xb3000000
        .text

        .bss
        .balign 4096
        .skip 4092
        .skip 4
big:    .skip 5004 * 1 + N_D * 4
        .skip 16
        .text
