/* uart-regs: the 16550A register model as a guest sees it through port I/O.
 * Proves: IIR 0xC1 when idle with FIFOs on and 0x01 with FIFOs off; LSR
 * THRE|TEMT idle, DR clear; DLAB exposes DLL/DLM (roundtrip) without
 * disturbing IER/RBR; LCR and MCR roundtrip; the THRE interrupt identity
 * (IIR 0xC2, cleared by reading IIR); MCR loopback: THR bytes come back
 * through RBR in order with LSR.DR, IIR shows received data (0xC4 at the
 * trigger level 1), loopback bytes do not reach the host stream; overrun
 * in 16450 mode sets LSR.OE (cleared by reading LSR); MSR reflects the MCR
 * outputs in loopback (CTS=RTS, DSR=DTR, RI=OUT1, DCD=OUT2). No interrupt
 * is delivered: IF=0 throughout. */
        .include "common.inc"
        GUEST_NAME "uart-regs"

        /* outb $val -> COM1 + off ; inb COM1 + off -> %eax (zero-extended) */
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

        .section .rodata
leak:   .ascii "@LOOP@"                 /* must not appear in the output */
        .text

main:
        WR 1, 0x00                      /* IER: nothing */
        /* 1. IIR idle, FIFOs on / off */
        WR 2, 0x07
        RD 2
        EXPECT %eax, $0xc1, 1
        WR 2, 0x00
        RD 2
        EXPECT %eax, $0x01, 2
        WR 2, 0x07
        /* 2. LSR idle: THRE | TEMT, no DR, no errors */
        RD 5
        andl $0x7f, %eax
        EXPECT %eax, $0x60, 3
        PRINT "uart-regs: IIR/LSR idle ok\n"

        /* 3. DLAB: divisor latch roundtrip, IER untouched */
        WR 1, 0x05                      /* IER = ERBFI | ELSI (no source) */
        WR 3, 0x83                      /* DLAB, 8N1 */
        WR 0, 0x0c
        WR 1, 0x5a
        RD 0
        EXPECT %eax, $0x0c, 4
        RD 1
        EXPECT %eax, $0x5a, 5
        RD 3
        EXPECT %eax, $0x83, 6
        WR 3, 0x03                      /* DLAB off */
        RD 1
        EXPECT %eax, $0x05, 7           /* IER kept, not the DLM value */
        WR 3, 0x83
        RD 0
        EXPECT %eax, $0x0c, 8           /* divisor kept across DLAB toggles */
        WR 0, 0x01                      /* back to 115200 */
        WR 1, 0x00
        WR 3, 0x03
        WR 1, 0x00
        /* 4. LCR and MCR roundtrip */
        WR 3, 0x1b
        RD 3
        EXPECT %eax, $0x1b, 9
        WR 3, 0x03
        WR 4, 0x0b
        RD 4
        EXPECT %eax, $0x0b, 10
        PRINT "uart-regs: DLAB, LCR, MCR ok\n"

        /* 5. THRE interrupt identity (IF=0: nothing is delivered) */
        WR 1, 0x02                      /* ETBEI 0->1: THRE pending */
        RD 2
        EXPECT %eax, $0xc2, 11
        RD 2                            /* reading IIR cleared it */
        EXPECT %eax, $0xc1, 12
        WR 1, 0x00

        /* 6. loopback with FIFOs: 6 bytes back in order, not on the host */
        WR 2, 0x07
        WR 4, 0x10                      /* LOOP */
        movl $leak, %esi
        movl $6, %ecx
        movw $COM1_THR, %dx
1:      lodsb
        outb %al, %dx
        decl %ecx
        jnz 1b
        RD 5
        andl $0x61, %eax
        EXPECT %eax, $0x61, 13          /* DR | THRE | TEMT */
        WR 1, 0x01                      /* ERBFI: trigger level 1 reached */
        RD 2
        EXPECT %eax, $0xc4, 14
        movl $leak, %esi
        movl $6, %ecx
2:      RD 0
        movzbl (%esi), %ebx
        EXPECT %eax, %ebx, 15
        incl %esi
        decl %ecx
        jnz 2b
        RD 5
        andl $0x01, %eax
        EXPECT %eax, $0, 16             /* FIFO drained: DR clear */
        RD 2
        EXPECT %eax, $0xc1, 17
        WR 1, 0x00

        /* 7. 16450 mode (FIFOs off) overrun: two bytes, one holding reg */
        WR 2, 0x00
        WR 0, 0x31
        WR 0, 0x32
        RD 5
        andl $0x03, %eax
        EXPECT %eax, $0x03, 18          /* DR | OE */
        RD 5
        andl $0x02, %eax
        EXPECT %eax, $0, 19             /* OE cleared by the LSR read */
        RD 0                            /* drain */
        RD 5
        andl $0x01, %eax
        EXPECT %eax, $0, 20
        WR 2, 0x07

        /* 8. MSR in loopback follows MCR */
        WR 4, 0x1f                      /* LOOP DTR RTS OUT1 OUT2 */
        RD 6
        andl $0xf0, %eax
        EXPECT %eax, $0xf0, 21
        WR 4, 0x11                      /* LOOP DTR */
        RD 6
        andl $0xf0, %eax
        EXPECT %eax, $0x20, 22
        RD 6                            /* deltas were cleared by the read */
        andl $0x0f, %eax
        EXPECT %eax, $0, 23
        WR 4, 0x0b                      /* loopback off */
        PRINT "uart-regs: THRE identity, loopback, overrun, MSR ok\n"

        /* 9. SCR */
        WR 7, 0xc3
        RD 7
        EXPECT %eax, $0xc3, 24
        ret
