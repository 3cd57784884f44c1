/*
 * virtio-legacy: QNX's `legacy` option, the virtio 0.9.5 PCI transport,
 * driven the way a legacy driver drives it (Linux's virtio_pci_legacy,
 * QNX's 0.9.5 drivers). The device is `vdev virtio-entropy legacy`, found
 * by a CF8/CFC scan of bus 0 as 1AF4:1005 with revision 0, subsystem ID 4
 * (the device type) and no virtio 1.x capability; BAR 0 is an I/O BAR.
 * Checks:
 *  - the host features are the low 32 bits only (no VERSION_1);
 *  - hostile values: a queue select past the queues reads size 0 and
 *    ignores its PFN; a notify of an unknown queue does nothing; a PFN
 *    outside guest RAM puts the device in NEEDS_RESET; status 0 resets;
 *  - with INTx (IOAPIC input from the interrupt-line register, level,
 *    active low): queue 0 set up by its page frame number (the legacy
 *    layout: used ring at the next 4096-byte boundary), DRIVER_OK, one
 *    request completes with its interrupt, ISR bit 0 read (and cleared);
 *  - with MSI-X: the device configuration moves to 0x18, the config and
 *    queue vectors at 0x14/0x16 read back (a vector past the table reads
 *    0xffff), and a second request completes with its MSI-X message.
 */
        .include "common.inc"
        GUEST_NAME "virtio-legacy"
        .include "lapic.inc"

        .set VEC_INTX, 0x46
        .set VEC_MSIX, 0x47
        .set NO_VECTOR, 0xffff
        .set RTE_ACTIVE_LOW, 1 << 13

        /* legacy registers, from BAR 0 */
        .set L_HOSTF, 0x00
        .set L_GUESTF, 0x04
        .set L_PFN, 0x08
        .set L_QSIZE, 0x0c
        .set L_QSEL, 0x0e
        .set L_NOTIFY, 0x10
        .set L_STATUS, 0x12
        .set L_ISR, 0x13
        .set L_CFGVEC, 0x14
        .set L_QVEC, 0x16

        .include "pci.inc"
        .include "msix.inc"

/* %dx = the I/O port of legacy register \reg */
        .macro LPORT reg
        movw io_base, %dx
        addw $\reg, %dx
        .endm

intx_handler:
        pushl %eax
        pushl %edx
        LPORT L_ISR
        inb %dx, %al                      /* read clears, deasserts the line */
        movzbl %al, %eax
        orl %eax, isr_seen
        incl irqs
        movl $0, LAPIC_EOI
        popl %edx
        popl %eax
        INTR_RETURN

msix_handler:
        incl msix_irqs
        movl $0, LAPIC_EOI
        INTR_RETURN

/* setup_queue0: status reset, ACK|DRIVER, no features, queue 0 at `ring`
 * by its PFN (read back). */
setup_queue0:
        LPORT L_STATUS
        movb $0, %al
        outb %al, %dx
        movb $3, %al
        outb %al, %dx
        LPORT L_GUESTF
        xorl %eax, %eax
        outl %eax, %dx
        LPORT L_QSEL
        xorl %eax, %eax
        outw %ax, %dx
        LPORT L_QSIZE
        inw %dx, %ax
        movzwl %ax, %eax
        movl %eax, qsize
        LPORT L_PFN
        movl $ring, %eax
        shrl $12, %eax
        outl %eax, %dx
        inl %dx, %eax
        movl $ring, %ecx
        shrl $12, %ecx
        EXPECT %eax, %ecx, 9              /* the PFN reads back: queue active */
        ret

/* request: one 64-byte device-writable buffer as avail entry `n` (avail
 * idx n+1), then a notify of queue 0. */
request:
        movl $buf, ring
        movl $0, ring + 4
        movl $64, ring + 8
        movw $2, ring + 12                /* VIRTQ_DESC_F_WRITE */
        movw $0, ring + 14
        movl qsize, %eax
        shll $4, %eax
        addl $ring, %eax                  /* the avail ring follows the table */
        movl %eax, avail
        movl 4(%esp), %ecx
        movw $0, 4(%eax, %ecx, 2)         /* ring[n] = descriptor 0 */
        incl %ecx
        movw %cx, 2(%eax)                 /* idx */
        LPORT L_NOTIFY
        xorl %eax, %eax
        outw %ax, %dx
        ret

main:
        SET_GATE VEC_INTX, intx_handler
        SET_GATE VEC_MSIX, msix_handler
        call lapic_enable
        /* find 1AF4:1005 (legacy entropy) on bus 0 */
        movl $0, pci_dev
1:      pushl $0
        call pci_read
        addl $4, %esp
        cmpl $0x10051af4, %eax
        je 2f
        incl pci_dev
        cmpl $32, pci_dev
        jb 1b
        FAIL_MSG 1, "no legacy virtio-entropy (1AF4:1005) on bus 0"
2:      pushl $0x08
        call pci_read
        addl $4, %esp
        andl $0xff, %eax
        EXPECT %eax, $0, 2                /* revision 0: legacy */
        pushl $0x2c
        call pci_read
        addl $4, %esp
        shrl $16, %eax
        EXPECT %eax, $4, 3                /* subsystem ID = device type */

        /* capabilities: MSI-X, and no virtio 1.x vendor capability */
        pushl $0x34
        call pci_read
        addl $4, %esp
        andl $0xfc, %eax
        movl $48, %esi
3:      testl %eax, %eax
        jz 6f
        movl %eax, %ebx
        pushl %ebx
        call pci_read
        addl $4, %esp
        cmpb $0x09, %al
        jne 4f
        FAIL_MSG 4, "a virtio 1.x capability on a legacy device"
4:      cmpb $0x11, %al
        jne 5f
        movl %ebx, msix_cap
5:      shrl $8, %eax
        andl $0xfc, %eax
        decl %esi
        jnz 3b
6:      cmpl $0, msix_cap
        jne 7f
        FAIL_MSG 5, "no MSI-X capability"

        /* BAR 0: an I/O BAR */
7:      pushl $0x10
        call pci_read
        addl $4, %esp
        testl $1, %eax
        jnz 8f
        FAIL_MSG 6, "BAR 0 is not an I/O BAR"
8:      andl $0xfffc, %eax
        movw %ax, io_base
        pushl $0x00000007                 /* I/O, memory, bus master */
        pushl $0x04
        call pci_write
        addl $8, %esp

        /* host features: the low 32 bits, EVENT_IDX | INDIRECT_DESC */
        LPORT L_HOSTF
        inl %dx, %eax
        EXPECT %eax, $0x30000000, 7
        PRINT "virtio-legacy: 1AF4:1005 rev 0, I/O BAR 0, 32 feature bits\n"

        /* hostile values */
        LPORT L_STATUS
        movb $0, %al
        outb %al, %dx
        movb $3, %al
        outb %al, %dx
        LPORT L_QSEL
        movw $5, %ax                      /* past the one queue */
        outw %ax, %dx
        LPORT L_QSIZE
        inw %dx, %ax
        movzwl %ax, %eax
        EXPECT %eax, $0, 8
        LPORT L_PFN
        movl $ring, %eax
        shrl $12, %eax
        outl %eax, %dx                    /* ignored */
        inl %dx, %eax
        EXPECT %eax, $0, 10
        LPORT L_NOTIFY
        movw $7, %ax                      /* unknown queue */
        outw %ax, %dx
        LPORT L_QSEL
        xorl %eax, %eax
        outw %ax, %dx
        LPORT L_PFN
        movl $0xfffff, %eax               /* 4 GiB - 4 KiB: outside RAM */
        outl %eax, %dx
        LPORT L_STATUS
        inb %dx, %al
        movzbl %al, %eax
        andl $0x40, %eax
        EXPECT %eax, $0x40, 11            /* NEEDS_RESET */
        LPORT L_ISR
        inb %dx, %al                      /* the config-change ISR bit, cleared */
        LPORT L_STATUS
        movb $0, %al
        outb %al, %dx
        inb %dx, %al
        movzbl %al, %eax
        EXPECT %eax, $0, 12               /* status 0 reset the device */
        PRINT "virtio-legacy: hostile queue select, PFN and notify refused\n"

        /* INTx: the GSI from the interrupt-line register, level, active low */
        pushl $0x3c
        call pci_read
        addl $4, %esp
        andl $0xff, %eax
        pushl $VEC_INTX | RTE_LEVEL | RTE_ACTIVE_LOW
        pushl %eax
        call ioapic_rte
        addl $8, %esp
        call setup_queue0
        LPORT L_STATUS
        movb $7, %al                      /* DRIVER_OK */
        outb %al, %dx
        sti
        pushl $0
        call request
        addl $4, %esp
        WAIT_NONZERO irqs, 200000
        cli
        cmpl $0, irqs
        jne 11f
        FAIL_MSG 13, "no INTx interrupt for the legacy queue"
11:     movl isr_seen, %eax
        andl $1, %eax
        EXPECT %eax, $1, 14               /* ISR bit 0: a queue interrupt */
        /* the used ring: next 4096-byte boundary after the avail ring */
        movl avail, %ebx
        movl qsize, %eax
        leal 6 + 4095(%ebx, %eax, 2), %ebx
        andl $~4095, %ebx
        movl %ebx, used
        movzwl 2(%ebx), %eax
        EXPECT %eax, $1, 15               /* used idx */
        movl 8(%ebx), %eax                /* used ring[0].len */
        testl %eax, %eax
        jnz 12f
        FAIL_MSG 16, "the device returned the buffer empty"
12:     PRINT "virtio-legacy: request completed with INTx\n"

        /* MSI-X: table entry 1 = LAPIC 0, VEC_MSIX */
        LPORT L_STATUS
        movb $0, %al
        outb %al, %dx                     /* reset */
        call msix_enable

        movl used, %ebx
        movl $0, (%ebx)                   /* forget the first request */
        movl $0, 8(%ebx)
        call setup_queue0                 /* (its reset masks the table) */
        movl msix_table, %ebx
        movl $0xfee00000, 16(%ebx)
        movl $0, 20(%ebx)
        movl $VEC_MSIX, 24(%ebx)
        movl $0, 28(%ebx)
        LPORT L_CFGVEC
        xorl %eax, %eax
        outw %ax, %dx
        inw %dx, %ax
        movzwl %ax, %eax
        EXPECT %eax, $0, 17
        LPORT L_QVEC
        movl msix_size, %eax              /* past the table: refused */
        outw %ax, %dx
        inw %dx, %ax
        movzwl %ax, %eax
        EXPECT %eax, $NO_VECTOR, 18
        movw $1, %ax
        outw %ax, %dx
        inw %dx, %ax
        movzwl %ax, %eax
        EXPECT %eax, $1, 19
        LPORT L_STATUS
        movb $7, %al
        outb %al, %dx
        sti
        pushl $0
        call request
        addl $4, %esp
        WAIT_NONZERO msix_irqs, 200000
        cli
        cmpl $0, msix_irqs
        jne 13f
        FAIL_MSG 20, "no MSI-X message for the legacy queue"
13:     movl used, %ebx
        movzwl 2(%ebx), %eax
        EXPECT %eax, $1, 21
        movl 8(%ebx), %eax
        testl %eax, %eax
        jnz 14f
        FAIL_MSG 22, "the device returned the buffer empty (MSI-X)"
14:     PRINT "virtio-legacy: request completed with MSI-X\n"
        ret

        .data
pci_dev:     .long 0
msix_cap:    .long 0
msix_size:   .long 0
msix_table:  .long 0
io_base:     .long 0
qsize:       .long 0
avail:       .long 0
used:        .long 0
irqs:        .long 0
msix_irqs:   .long 0
isr_seen:    .long 0

        .bss
        .balign 4096
ring:   .skip 3 * 4096                    /* table, avail, used (a 256-entry queue) */
        .balign 16
buf:    .skip 64
