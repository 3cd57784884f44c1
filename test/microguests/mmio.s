/* mmio: memory-mapped I/O exits. A second 16550 lives at mem:0xd0000000
 * (config: `vdev ser8250 loc mem:0xd0000000 name mmio-uart`, byte-wide
 * registers). Proves: 1-byte MMIO writes/reads reach the right register (SCR
 * and LCR roundtrip, LSR idle value), read-modify-write instructions (OR,
 * AND, XCHG, ADD on a register in MMIO) each see the device, byte MMIO
 * writes to THR reach the host stream intact; 4-byte MMIO works against the
 * IOAPIC (IOREGSEL/IOWIN: version register, a redirection entry roundtrip);
 * MMIO reads of unassigned space return all-ones of the access size (MOVZX,
 * MOVSX, 1/2/4 bytes) and writes there are dropped, under `unsupported
 * ignore`. */
        .include "common.inc"
        GUEST_NAME "mmio"

        .set MU,        0xd0000000
        .set MU_THR,    MU + 0
        .set MU_LCR,    MU + 3
        .set MU_LSR,    MU + 5
        .set MU_SCR,    MU + 7
        .set NOWHERE,   0xe0000000      /* no RAM, no device */

        .section .rodata
hello:  .asciz "mmio-uart: hello through byte MMIO writes\n"
        .text

/* putc on the MMIO UART: %al */
mu_putc:
        pushl %ecx
        pushl %eax
        movl $10000, %ecx
1:      testb $0x20, MU_LSR
        jnz 2f
        decl %ecx
        jnz 1b
2:      popl %eax
        movb %al, MU_THR
        popl %ecx
        ret

main:
        /* 1. SCR roundtrip */
        movb $0x5a, MU_SCR
        movzbl MU_SCR, %eax
        EXPECT %eax, $0x5a, 1
        movb $0xa5, MU_SCR
        movzbl MU_SCR, %eax
        EXPECT %eax, $0xa5, 2
        /* 2. LCR roundtrip, then 8N1 */
        movb $0x1b, MU_LCR
        movzbl MU_LCR, %eax
        EXPECT %eax, $0x1b, 3
        movb $0x03, MU_LCR
        /* 3. LSR idle */
        movzbl MU_LSR, %eax
        andl $0x7f, %eax
        EXPECT %eax, $0x60, 4
        /* 4. read-modify-write instructions on SCR */
        movb $0x50, MU_SCR
        orb $0x0f, MU_SCR
        movzbl MU_SCR, %eax
        EXPECT %eax, $0x5f, 5
        andb $0x3c, MU_SCR
        movzbl MU_SCR, %eax
        EXPECT %eax, $0x1c, 6
        addb $0x21, MU_SCR
        movzbl MU_SCR, %eax
        EXPECT %eax, $0x3d, 7
        movb $0x77, %bl
        xchgb %bl, MU_SCR
        movzbl %bl, %ebx
        EXPECT %ebx, $0x3d, 8
        movzbl MU_SCR, %eax
        EXPECT %eax, $0x77, 9
        cmpb $0x77, MU_SCR
        je 1f
        FAIL_MSG 10, "cmpb on MMIO SCR did not see 0x77"
1:
        /* 5. output through byte MMIO writes */
        movl $hello, %esi
2:      lodsb
        testb %al, %al
        jz 3f
        call mu_putc
        jmp 2b
3:      PRINT "mmio: byte MMIO to the second UART ok\n"

        /* 6. 4-byte MMIO: IOAPIC version and a redirection entry */
        movl $0x01, IOAPIC_SEL
        movl IOAPIC_SEL, %eax
        andl $0xff, %eax
        EXPECT %eax, $0x01, 11          /* IOREGSEL reads back */
        movl IOAPIC_WIN, %eax
        shrl $16, %eax
        andl $0xff, %eax
        EXPECT %eax, $23, 12            /* 24 pins: max redirection entry 23 */
        movl $0x20, IOAPIC_SEL          /* pin 8, low dword */
        movl $0x00010055, IOAPIC_WIN    /* masked, vector 0x55 */
        movl $0x21, IOAPIC_SEL
        movl $0x01000000, IOAPIC_WIN    /* destination APIC 1 */
        movl $0x20, IOAPIC_SEL
        movl IOAPIC_WIN, %eax
        andl $0x0001ffff, %eax          /* mask..vector; not the status bits */
        EXPECT %eax, $0x00010055, 13
        movl $0x21, IOAPIC_SEL
        movl IOAPIC_WIN, %eax
        andl $0xff000000, %eax
        EXPECT %eax, $0x01000000, 14
        movl $0x20, IOAPIC_SEL
        movl $0x00010000, IOAPIC_WIN    /* leave it masked */
        movl $0x21, IOAPIC_SEL
        movl $0, IOAPIC_WIN
        PRINT "mmio: 4-byte IOAPIC accesses ok\n"

        /* 7. unassigned MMIO: all-ones of each size, writes dropped */
        movzbl NOWHERE, %eax
        EXPECT %eax, $0xff, 15
        movzwl NOWHERE + 2, %eax
        EXPECT %eax, $0xffff, 16
        movl NOWHERE + 4, %eax
        EXPECT %eax, $0xffffffff, 17
        movsbl NOWHERE + 1, %eax
        EXPECT %eax, $0xffffffff, 18
        movl $0x12345678, NOWHERE
        movb $0, NOWHERE + 8
        movl NOWHERE, %eax
        EXPECT %eax, $0xffffffff, 19
        movzbl NOWHERE + 8, %eax
        EXPECT %eax, $0xff, 20
        /* just past the end of RAM (16 MiB in the config) */
        movl 0x01000000, %eax
        EXPECT %eax, $0xffffffff, 21
        PRINT "mmio: unassigned reads all-ones, writes dropped ok\n"
        ret
