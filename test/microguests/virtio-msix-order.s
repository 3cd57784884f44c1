/*
 * virtio-msix-order: MSI-X vectors of a virtio-pci device programmed in
 * NetBSD's order (sys/dev/pci/virtio_pci.c): the queue is set up and
 * ENABLED first, then its vector is written and read back (NetBSD fails
 * the device with "can't set queue 0 msix vector" when the read-back
 * differs). The device is virtio-entropy (1AF4:1044) found by a CF8/CFC
 * scan of bus 0; its capabilities give the common configuration and the
 * notification area. Checks: config and queue vectors written after
 * queue_enable read back; a vector past the MSI-X table reads back
 * NO_VECTOR (0xffff); then a real request completes with its MSI-X
 * message (vector 0x45, programmed in the table after the queue was
 * enabled) and the device filled the buffer.
 */
        .include "common.inc"
        GUEST_NAME "virtio-msix-order"
        .include "lapic.inc"

        .set VEC, 0x45
        .set QSIZE, 8
        .set NO_VECTOR, 0xffff

        .include "pci.inc"

/* bar_addr(bar index): %eax = its memory address (32-bit; the high half of
 * a 64-bit BAR must be 0: BARs sit below 4 GiB) */
bar_addr:
        movl 4(%esp), %eax
        shll $2, %eax
        addl $0x10, %eax
        pushl %eax
        call pci_read
        addl $4, %esp
        andl $~0xf, %eax
        ret

msix_handler:
        incl irqs
        movl $0, LAPIC_EOI
        INTR_RETURN

main:
        SET_GATE VEC, msix_handler
        call lapic_enable
        /* find 1AF4:1044 on bus 0 */
        movl $0, pci_dev
1:      pushl $0
        call pci_read
        addl $4, %esp
        cmpl $0x10441af4, %eax
        je 2f
        incl pci_dev
        cmpl $32, pci_dev
        jb 1b
        FAIL_MSG 1, "no virtio-entropy (1AF4:1044) on bus 0"
2:      pushl $0x00000006                 /* memory space, bus master */
        pushl $0x04
        call pci_write
        addl $8, %esp

        /* walk the capabilities (bounded: 48 hops) */
        pushl $0x34
        call pci_read
        addl $4, %esp
        andl $0xfc, %eax
        movl $48, %esi
3:      testl %eax, %eax
        jz 6f
        movl %eax, %ebx                   /* this capability's offset */
        pushl %ebx
        call pci_read
        addl $4, %esp
        movl %eax, %edi                   /* id, next, len, cfg_type */
        cmpb $0x11, %al
        jne 4f
        movl %ebx, msix_cap
        jmp 5f
4:      cmpb $0x09, %al                   /* virtio vendor capability */
        jne 5f
        shrl $24, %edi
        leal 4(%ebx), %eax
        pushl %eax
        call pci_read                     /* bar */
        addl $4, %esp
        andl $0xff, %eax
        pushl %eax
        call bar_addr
        addl $4, %esp
        movl %eax, %ecx
        leal 8(%ebx), %eax
        pushl %eax
        call pci_read                     /* offset */
        addl $4, %esp
        addl %ecx, %eax
        cmpl $1, %edi
        jne 41f
        movl %eax, common
41:     cmpl $2, %edi
        jne 5f
        movl %eax, notify_base
        leal 16(%ebx), %eax
        pushl %eax
        call pci_read                     /* notify_off_multiplier */
        addl $4, %esp
        movl %eax, notify_mult
5:      pushl %ebx
        call pci_read
        addl $4, %esp
        shrl $8, %eax
        andl $0xfc, %eax
        decl %esi
        jnz 3b
6:      cmpl $0, common
        jne 7f
        FAIL_MSG 2, "no common configuration capability"
7:      cmpl $0, msix_cap
        jne 8f
        FAIL_MSG 3, "no MSI-X capability"
8:      cmpl $0, notify_base
        jne 9f
        FAIL_MSG 4, "no notification capability"
9:
        /* MSI-X on; table entry 1 = LAPIC 0, vector VEC, unmasked */
        pushl msix_cap
        call pci_read
        addl $4, %esp
        movl %eax, %ebx
        shrl $16, %ebx
        andl $0x7ff, %ebx
        incl %ebx
        movl %ebx, msix_size              /* table entries */
        orl $0x80000000, %eax             /* message control: enable */
        pushl %eax
        pushl msix_cap
        call pci_write
        addl $8, %esp
        movl msix_cap, %eax
        addl $4, %eax
        pushl %eax
        call pci_read                     /* table offset / BIR */
        addl $4, %esp
        movl %eax, %ebx
        andl $~7, %ebx
        andl $7, %eax
        pushl %eax
        call bar_addr
        addl $4, %esp
        addl %eax, %ebx
        movl %ebx, msix_table

        /* reset, ACKNOWLEDGE | DRIVER, features: VERSION_1 only */
        movl common, %edi
        movb $0, 0x14(%edi)
        movb $3, 0x14(%edi)
        movl $1, 0x08(%edi)               /* driver_feature_select: bits 32-63 */
        movl $1, 0x0c(%edi)               /* VERSION_1 */
        movl $0, 0x08(%edi)
        movl $0, 0x0c(%edi)
        movb $0x0b, 0x14(%edi)            /* FEATURES_OK */
        movzbl 0x14(%edi), %eax
        EXPECT %eax, $0x0b, 5

        /* queue 0: size, rings, ENABLE — then the vectors (NetBSD's order) */
        movw $0, 0x16(%edi)
        movzwl 0x18(%edi), %eax
        cmpl $QSIZE, %eax
        jae 10f
        FAIL_MSG 6, "queue 0 smaller than 8"
10:     movw $QSIZE, 0x18(%edi)
        movl $desc, 0x20(%edi)
        movl $0, 0x24(%edi)
        movl $avail, 0x28(%edi)
        movl $0, 0x2c(%edi)
        movl $used, 0x30(%edi)
        movl $0, 0x34(%edi)
        movw $1, 0x1c(%edi)               /* queue_enable */
        movzwl 0x1c(%edi), %eax
        EXPECT %eax, $1, 14               /* the queue is enabled now */
        movzwl 0x1e(%edi), %eax
        movl %eax, notify_off

        movw $0, 0x10(%edi)               /* config vector 0 */
        movzwl 0x10(%edi), %eax
        EXPECT %eax, $0, 7
        movw $1, 0x1a(%edi)               /* queue 0 -> vector 1, after enable */
        movzwl 0x1a(%edi), %eax
        EXPECT %eax, $1, 8
        movl msix_size, %ebx              /* past the table: refused */
        movw %bx, 0x1a(%edi)
        movzwl 0x1a(%edi), %eax
        EXPECT %eax, $NO_VECTOR, 9
        movw $1, 0x1a(%edi)
        movzwl 0x1a(%edi), %eax
        EXPECT %eax, $1, 10
        PRINT "virtio-msix-order: vectors written after queue_enable read back\n"

        /* table entry 1 now: address, data, unmask */
        movl msix_table, %ebx
        movl $0xfee00000, 16(%ebx)
        movl $0, 20(%ebx)
        movl $VEC, 24(%ebx)
        movl $0, 28(%ebx)
        movb $0x0f, 0x14(%edi)            /* DRIVER_OK */

        /* one request: a 64-byte device-writable buffer */
        movl $buf, desc
        movl $0, desc + 4
        movl $64, desc + 8
        movw $2, desc + 12                /* VIRTQ_DESC_F_WRITE */
        movw $0, desc + 14
        movw $0, avail + 4                /* ring[0] = descriptor 0 */
        movw $1, avail + 2                /* idx */
        sti
        movl notify_off, %eax
        mull notify_mult
        addl notify_base, %eax
        movw $0, (%eax)                   /* notify queue 0 */
        WAIT_NONZERO irqs, 200000
        cli
        cmpl $0, irqs
        jne 11f
        FAIL_MSG 11, "no MSI-X message at the vector programmed after queue_enable"
11:     movzwl used + 2, %eax
        EXPECT %eax, $1, 12               /* used idx */
        movl used + 8, %eax               /* used ring[0].len */
        testl %eax, %eax
        jnz 12f
        FAIL_MSG 13, "the device returned the buffer empty"
12:     PRINT "virtio-msix-order: request completed with its MSI-X message\n"
        ret

        .data
msix_cap:    .long 0
msix_size:   .long 0
msix_table:  .long 0
common:      .long 0
notify_base: .long 0
notify_mult: .long 0
notify_off:  .long 0
irqs:        .long 0

        .bss
        .balign 4096
desc:   .skip 16 * QSIZE
        .balign 2
avail:  .skip 6 + 2 * QSIZE
        .balign 4096
used:   .skip 6 + 8 * QSIZE
        .balign 16
buf:    .skip 64
