/* bad-access: hostile accesses that must not crash or hang qvm. Runs under
 * `unsupported ignore` with 16 MiB of RAM and every PC device present.
 * Expected outcome (documented in README.md): qvm survives every access;
 * reads of unassigned space (including accesses that straddle a region
 * boundary or run off the top of the port space) return all-ones, writes
 * there are dropped; a string instruction whose memory operand runs past the
 * end of RAM reads all-ones from / drops writes to the part outside RAM; the
 * devices still work afterwards (SCR roundtrip, IOAPIC version, RTE intact).
 * The guest then passes (exit 1). Accesses whose result depends on a
 * device's choice are performed but not checked (survival is the check). */
        .include "common.inc"
        GUEST_NAME "bad-access"

        .set RAM_END,  0x01000000       /* config: ram 16M */
        .set NOWHERE,  0x0ffff000       /* past RAM, no device */
        .set MU,       0xd0000000       /* MMIO UART */

main:
        /* 1. wide port accesses that straddle the UART's last port */
        movw $COM1_SCR, %dx
        movb $0x11, %al
        outb %al, %dx
        movl $0x44332211, %eax
        outl %eax, %dx                  /* 0x3ff..0x402 */
        outw %ax, %dx                   /* 0x3ff..0x400 */
        inl %dx, %eax
        inw %dx, %ax
        movl $0x03070041, %eax          /* THR 'A', IER 0, FCR 7, LCR 3 */
        movw $COM1, %dx
        outl %eax, %dx
        movw $COM1_MSR, %dx
        movl $0x11111111, %eax
        outl %eax, %dx                  /* 0x3fe..0x401 */
        inl %dx, %eax
        /* 2. the top of the port space */
        movw $0xffff, %dx
        outw %ax, %dx
        outl %eax, %dx
        xorl %eax, %eax
        inl %dx, %eax
        EXPECT %eax, $0xffffffff, 1
        movw $0xfffe, %dx
        xorl %eax, %eax
        inl %dx, %eax
        EXPECT %eax, $0xffffffff, 2
        movl $0xffff, %edx
        movl $RAM_END - 64, %esi
        movl $16, %ecx
        rep outsl                       /* string I/O at port 0xffff */
        PRINT "\nbad-access: straddling and top-of-space ports survived\n"

        /* 3. the UART still works */
        movw $COM1_SCR, %dx
        movb $0x5a, %al
        outb %al, %dx
        xorl %eax, %eax
        inb %dx, %al
        EXPECT %eax, $0x5a, 3

        /* 4. MMIO: wrong sizes, odd places, 4 GiB wrap */
        movb IOAPIC_WIN, %al            /* IOAPIC takes 4-byte accesses */
        movw IOAPIC_WIN, %ax
        movb $0x10, IOAPIC_SEL
        movw $0x10, IOAPIC_SEL + 1
        movl IOAPIC + 0x40, %eax        /* inside the window, no register */
        movl $0xffffffff, IOAPIC + 0x44
        movl IOAPIC - 2, %eax           /* straddles into the IOAPIC */
        movl $0xffffffff, IOAPIC - 2
        movl 0xfed00000, %eax           /* HPET hole */
        movl 0xfee01000, %eax           /* after the LAPIC page */
        movl 0xfffffff0, %eax           /* no ROM here */
        EXPECT %eax, $0xffffffff, 4
        movl 0xfffffffc, %eax
        EXPECT %eax, $0xffffffff, 5
        movb $0x42, MU + 8              /* just past the MMIO UART */
        movl MU + 6, %eax               /* straddles its end */
        movl $0, MU + 5
        /* 5. IOAPIC: registers that do not exist */
        movl $0xff, IOAPIC_SEL
        movl IOAPIC_WIN, %eax
        movl $0xffffffff, IOAPIC_WIN
        movl $0x40, IOAPIC_SEL          /* pin 24 low: no such pin */
        movl $0x00000041, IOAPIC_WIN
        movl $0x41, IOAPIC_SEL
        movl $0xffffffff, IOAPIC_WIN
        movl $0x7f, IOAPIC_SEL
        movl $0x00000041, IOAPIC_WIN
        movl IOAPIC_WIN, %eax
        /* still fine: version, and pin 23's entry is still masked */
        movl $0x01, IOAPIC_SEL
        movl IOAPIC_WIN, %eax
        shrl $16, %eax
        andl $0xff, %eax
        EXPECT %eax, $23, 6
        movl $0x3e, IOAPIC_SEL          /* pin 23 low */
        movl IOAPIC_WIN, %eax
        andl $0x00010000, %eax
        EXPECT %eax, $0x00010000, 7
        PRINT "bad-access: odd MMIO survived, IOAPIC intact\n"

        /* 6. string I/O with memory operands outside RAM */
        movw $COM1_SCR, %dx
        movl $NOWHERE, %esi
        movl $512, %ecx
        rep outsb                       /* source wholly past RAM */
        EXPECT %ecx, $0, 8
        EXPECT %esi, $NOWHERE+512, 9
        xorl %eax, %eax
        inb %dx, %al
        EXPECT %eax, $0xff, 10          /* last byte read as all-ones */
        movb $0x3c, RAM_END - 1
        movl $RAM_END - 8, %esi
        movl $8, %ecx
        rep outsb                       /* ends on the last RAM byte */
        xorl %eax, %eax
        inb %dx, %al
        EXPECT %eax, $0x3c, 11
        movl $RAM_END - 8, %esi
        movl $16, %ecx
        rep outsb                       /* runs off the end of RAM */
        EXPECT %ecx, $0, 12
        xorl %eax, %eax
        inb %dx, %al
        EXPECT %eax, $0xff, 13
        movb $0x5a, %al
        outb %al, %dx
        movl $NOWHERE, %edi
        movl $256, %ecx
        rep insb                        /* destination wholly past RAM */
        EXPECT %ecx, $0, 14
        movl $0, RAM_END - 8
        movl $0, RAM_END - 4
        movl $RAM_END - 8, %edi
        movl $16, %ecx
        rep insb                        /* straddles the end of RAM */
        EXPECT %ecx, $0, 15
        movl RAM_END - 8, %eax
        EXPECT %eax, $0x5a5a5a5a, 16
        movl RAM_END - 4, %eax
        EXPECT %eax, $0x5a5a5a5a, 16
        PRINT "bad-access: string I/O past the end of RAM ok\n"

        /* 7. long string I/O between RAM and an unassigned port. KVM hands
         * `rep ins` to qvm a page at a time but `rep outs` one element per
         * exit, so the OUTS run is kept to 16 KiB (~0.1-0.2 s). */
        movw $UNASSIGNED_PORT, %dx
        movl $RAM_END - 0x4000, %esi
        movl $0x4000, %ecx              /* up to the last byte of RAM */
        rep outsb
        EXPECT %ecx, $0, 17
        EXPECT %esi, $RAM_END, 18
        movl $0, 0x00600000
        movl $0x00200000, %edi
        movl $0x00100000, %ecx          /* 1 Mi dwords = 4 MiB */
        rep insl
        EXPECT %ecx, $0, 19
        EXPECT %edi, $0x00600000, 20
        movl 0x00200000, %eax
        EXPECT %eax, $0xffffffff, 21
        movl 0x005ffffc, %eax
        EXPECT %eax, $0xffffffff, 21
        movl 0x00600000, %eax
        EXPECT %eax, $0, 22             /* not one element more */
        PRINT "bad-access: 16 KiB rep outsb and 4 MiB rep insl ok\n"

        /* 8. PIT, RTC and i8042 oddities */
        movb $0xfe, %al                 /* read-back: everything, all chans */
        outb %al, $0x43
        movl $6, %ecx
1:      inb $0x40, %al
        inb $0x41, %al
        inb $0x42, %al
        decl %ecx
        jnz 1b
        movb $0x3e, %al                 /* ch0 lohi mode 7 (= mode 3) */
        outb %al, $0x43
        xorb %al, %al
        outb %al, $0x40
        outb %al, $0x40                 /* count 0 = 65536 */
        movb $0x30, %al
        outb %al, $0x43                 /* stop it again (mode 0, no count) */
        movb $0xff, %al
        outb %al, $0x70                 /* index beyond CMOS, NMI bit set */
        inb $0x71, %al
        outb %al, $0x71
        movb $0x80, %al
        outb %al, $0x70
        inb $0x71, %al
        movb $0x0d, %al
        outb %al, $0x70
        movl $0x12345678, %eax
        outl %eax, $0x70                /* 4 bytes over index and data */
        inl $0x70, %eax
        movb $0xcb, %al                 /* unknown 8042 command */
        outb %al, $0x64
        movb $0x00, %al
        outb %al, $0x60                 /* data nobody asked for */
        movl $16, %ecx
2:      inb $0x64, %al
        inb $0x60, %al
        decl %ecx
        jnz 2b
        movb $0x0d, %al
        outb %al, $0x70
        xorl %eax, %eax
        inb $0x71, %al
        EXPECT %eax, $0x80, 23          /* RTC register D still reads 0x80 */
        PRINT "bad-access: PIT, RTC, 8042 oddities survived\n"

        /* 9. 8-byte (MMX MOVQ) and 16-byte (SSE MOVDQU) MMIO. These are
         * the forms KVM's instruction emulator knows (it has no SSE MOVQ,
         * F3 0F 7E / 66 0F D6: kvm_pvm emulates all guest kernel code). */
        movl %cr0, %eax
        andl $~0x0c, %eax               /* EM and TS off */
        orl $0x02, %eax                 /* MP on */
        movl %eax, %cr0
        movl %cr4, %eax
        orl $0x600, %eax                /* OSFXSR | OSXMMEXCPT */
        movl %eax, %cr4
        movq NOWHERE, %mm0
        movq %mm0, nine
        EXPECT nine, $0xffffffff, 24
        EXPECT nine+4, $0xffffffff, 24
        movq %mm0, NOWHERE
        movdqu NOWHERE, %xmm1
        movdqu %xmm1, sixteen
        EXPECT sixteen, $0xffffffff, 27
        EXPECT sixteen+12, $0xffffffff, 27
        movdqu %xmm1, NOWHERE
        movl $0x0b03074b, qword         /* THR 'K', IER 0, FCR 7, LCR 3 */
        movl $0x4200000b, qword+4       /* MCR 0x0b, LSR, MSR, SCR 0x42 */
        movq qword, %mm2
        movq %mm2, MU                   /* 8 bytes over all 8 registers */
        movq MU, %mm3
        movdqu MU, %xmm3                /* 16 bytes, half of them past it */
        /* no EMMS: KVM's emulator lacks it; no x87 code follows */
        PRINT "\nbad-access: 8/16-byte MMIO survived\n"

        /* 10. both UARTs still answer */
        movb $0x77, MU + 7
        movzbl MU + 7, %eax
        EXPECT %eax, $0x77, 25
        movw $COM1_SCR, %dx
        movb $0x66, %al
        outb %al, %dx
        xorl %eax, %eax
        inb %dx, %al
        EXPECT %eax, $0x66, 26
        ret

        .bss
        .balign 16
nine:   .skip 8
qword:  .skip 8
sixteen: .skip 16
        .text
