/* control: a long-running guest for the /dev/qvm end-to-end test
 * (test/control/run.sh); it is not a table row because it never ends by
 * itself -- the test stops it through qvmctl.
 *  1. prints "control: ready";
 *  2. writes exactly 1000 bytes to the RTC index port 0x70, so the mc146818
 *     region's exit count in the statistics must be exactly 1000;
 *  3. prints "control: counted";
 *  4. loops forever incrementing the 32-bit counter at COUNTER (0x8000; the
 *     test reads it from guest dumps: it stops while paused); every 65536
 *     increments it polls the UART and echoes each received byte back with
 *     a-z upper-cased (the console test sends "hello" and expects "HELLO"). */
        .include "common.inc"
        GUEST_NAME "control"
        .set COUNTER, 0x8000
main:
        movl $0, COUNTER
        PRINT "control: ready\n"
        movl $1000, %ecx
        movw $0x70, %dx
        movb $0x0f, %al
1:      outb %al, %dx
        loop 1b
        PRINT "control: counted\n"
2:      incl COUNTER
        testl $0xffff, COUNTER
        jnz 2b
        movw $COM1_LSR, %dx
        inb %dx, %al
        testb $1, %al
        jz 2b
        movw $COM1_THR, %dx
        inb %dx, %al
        cmpb $0x61, %al
        jb 3f
        cmpb $0x7a, %al
        ja 3f
        subb $0x20, %al
3:      outb %al, %dx
        jmp 2b
