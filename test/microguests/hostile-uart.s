/*
 * hostile-uart: a UART flood. The guest writes COM1's THR as fast as it
 * can (no LSR polling: the model's THR is always empty), 4096 lines of 63
 * letters and a newline, line k all 'A' + k % 26: 262,144 bytes. Then it
 * checks the UART still answers (scratch register, check 1). The table
 * checks the verdict; test/hostile/run.sh also checks that the output
 * holds every byte in order, that qvm's log stays bounded and that
 * /dev/qvm answers throughout.
 */
        .include "common.inc"
        GUEST_NAME "hostile-uart"

        .set LINES, 4096

main:
        PRINT "hostile-uart: flood\n"
        movw $COM1_THR, %dx
        xorl %ebx, %ebx                   /* line */
1:      movl %ebx, %eax
        xorl %edx, %edx
        movl $26, %ecx
        divl %ecx
        leal 'A'(%edx), %eax
        movw $COM1_THR, %dx
        movl $63, %ecx
2:      outb %al, %dx
        decl %ecx
        jnz 2b
        movb $'\n', %al
        outb %al, %dx
        incl %ebx
        cmpl $LINES, %ebx
        jb 1b
        movw $COM1_SCR, %dx
        movb $0x3c, %al
        outb %al, %dx
        xorl %eax, %eax
        inb %dx, %al
        EXPECT %eax, $0x3c, 1
        PRINT "hostile-uart: 262144 bytes written\n"
        ret
