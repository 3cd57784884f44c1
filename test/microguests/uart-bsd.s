/* uart-bsd: the 16550A as the BSDs probe and attach it (sequences from
 * NetBSD's com_probe_subr / com_attach_subr and OpenBSD's comprobe1 /
 * com_attach_subr, replayed register by register). Proves: NetBSD's probe
 * (LCR := 8 bits, FCR := 0, LCR reads back 0x03, IIR & 0x38 == 0) and
 * both OpenBSD comprobe1 variants (LCR := 0 or 8 bits, FCR := 0, at most 32
 * IIR reads with an RBR read as cleanup while IIR & 0x38; the loop must
 * end at once) succeed, also with a received byte pending; the FIFO check
 * (FCR := ENABLE|TRIGGER_14 -> IIR & 0xC0 == 0xC0, no 64-byte-FIFO bit
 * 0x20) says 16550A; OpenBSD's ST16650 probe (DLAB set, register 2 reads
 * non-zero, so EFR is never written) and the 16450-vs-8250 scratch test
 * (0xA5 and 0x5A read back) classify it; the MCR loopback probe (MCR :=
 * LOOP|OUT2|RTS, MSR high nibble = DCD|CTS = 0x90, and with MCR := LOOP
 * alone 0x00) that FreeBSD and Linux use; LSR ends THRE|TEMT (0x60). */
        .include "common.inc"
        GUEST_NAME "uart-bsd"

        .macro WR off, val
        movw $COM1+\off, %dx
        movb $\val, %al
        outb %al, %dx
        .endm
        .macro RD off
        movw $COM1+\off, %dx
        xorl %eax, %eax
        inb %dx, %al
        .endm

/* openbsd_probe(lcr): OpenBSD comprobe1; returns the loop count in %eax
 * (32 = probe failed). */
openbsd_probe:
        pushl %ecx
        pushl %edx
        movl 12(%esp), %eax
        movw $COM1_LCR, %dx
        outb %al, %dx
        WR 2, 0
        xorl %ecx, %ecx
1:      cmpl $32, %ecx
        jae 3f
        RD 3
        cmpl 12(%esp), %eax
        jne 2f
        RD 2
        testb $0x38, %al
        jz 3f
2:      RD 0                            /* cleanup */
        incl %ecx
        jmp 1b
3:      movl %ecx, %eax
        popl %edx
        popl %ecx
        ret

main:
        /* 1. NetBSD com_probe_subr */
        WR 3, 0x03
        WR 2, 0
        RD 3
        EXPECT %eax, $0x03, 1
        RD 2
        andl $0x38, %eax
        EXPECT %eax, $0, 2
        RD 2
        EXPECT %eax, $0x01, 3           /* FIFOs off, nothing pending */
        /* 2. OpenBSD comprobe1, old (LCR 0) and new (LCR 8 bits) */
        pushl $0
        call openbsd_probe
        addl $4, %esp
        EXPECT %eax, $0, 4
        pushl $0x03
        call openbsd_probe
        addl $4, %esp
        EXPECT %eax, $0, 5
        /* with a received byte pending (loopback, FIFOs off) */
        WR 4, 0x10
        WR 0, 0x5a
        RD 5
        andl $0x01, %eax
        EXPECT %eax, $1, 6              /* LSR.DR */
        WR 4, 0x00
        pushl $0x03
        call openbsd_probe
        addl $4, %esp
        EXPECT %eax, $0, 7
        RD 0                            /* drain */
        EXPECT %eax, $0x5a, 8
        PRINT "uart-bsd: NetBSD and OpenBSD probes ok\n"

        /* 3. com_attach_subr: FIFO check */
        WR 2, 0xc1                      /* ENABLE | TRIGGER_14 */
        RD 2
        movl %eax, %ebx
        andl $0xc0, %eax
        EXPECT %eax, $0xc0, 9
        andl $0x20, %ebx
        EXPECT %ebx, $0, 10             /* not a 16750 */
        /* OpenBSD's ST16650 probe: LCR with DLAB, register 2 non-zero */
        WR 3, 0x83
        RD 2
        testl %eax, %eax
        jnz 1f
        FAIL_MSG 11, "register 2 reads 0 with DLAB set (looks like an ST16650 EFR)"
1:      WR 3, 0x03
        /* 16450 vs 8250: scratch */
        WR 7, 0xa5
        RD 7
        EXPECT %eax, $0xa5, 12
        WR 7, 0x5a
        RD 7
        EXPECT %eax, $0x5a, 13
        WR 2, 0
        RD 2
        andl $0xc0, %eax
        EXPECT %eax, $0, 14             /* FIFOs off again */
        PRINT "uart-bsd: FIFO, ST16650 and scratch checks say 16550A ok\n"

        /* 4. MCR loopback probe (FreeBSD sio / Linux autoconfig) */
        WR 4, 0x1a                      /* LOOP | OUT2 | RTS */
        RD 6
        andl $0xf0, %eax
        EXPECT %eax, $0x90, 15          /* DCD | CTS */
        WR 4, 0x10
        RD 6
        andl $0xf0, %eax
        EXPECT %eax, $0x00, 16
        WR 4, 0x0b                      /* back to DTR RTS OUT2 */
        RD 6                            /* clear the deltas */
        RD 5
        andl $0x61, %eax
        EXPECT %eax, $0x60, 17          /* THRE | TEMT, no data */
        WR 2, 0x07                      /* the console's FIFO setting */
        PRINT "uart-bsd: loopback probe ok\n"
        ret
