/* Watchdog micro-guest for the out-of-tree wdt-ib700 example.
 * Built twice: -DSTOP pings, stops the watchdog, then keeps running for
 * ~20000 exits and passes (debug-exit 0 -> qvm 1, QEMU isa-debug-exit semantics); without STOP it pings
 * once and spins, so the watchdog must end qvm with exit code 4. The
 * oldabi device at 0x520 is checked first (read = written + 1). */
        .code32
        .globl _start
_start:
        movw $0x520, %dx
        movl $41, %eax
        outl %eax, %dx
        inl %dx, %eax
        cmpl $42, %eax
        jne fail
        movw $0x443, %dx
        movb $14, %al            /* 30 - 2*14 = 2 s (scaled by the config) */
        outb %al, %dx
#ifdef STOP
        movw $0x441, %dx
        outb %al, %dx
#endif
        movl $20000, %ecx
        movw $0x80, %dx
1:      inb %dx, %al             /* unassigned port: one exit each */
        decl %ecx
        jnz 1b
#ifdef STOP
        movw $0xf4, %dx
        xorl %eax, %eax
        outl %eax, %dx
#endif
2:      jmp 2b
fail:   movw $0xf4, %dx
        movl $1, %eax
        outl %eax, %dx
        jmp 2b
