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
        .include "virtio-pci.inc"
        .include "msix.inc"

        .set VEC, 0x45
        .set QSIZE, 8
        .set NO_VECTOR, 0xffff

msix_handler:
        incl irqs
        movl $0, LAPIC_EOI
        INTR_RETURN

main:
        SET_GATE VEC, msix_handler
        call lapic_enable
        pushl $0x10441af4                 /* virtio-entropy; checks 1-4 */
        call vp_find
        addl $4, %esp
        /* MSI-X on; table entry 1 = LAPIC 0, vector VEC, unmasked */
        call msix_enable

        /* reset, ACKNOWLEDGE | DRIVER, features: VERSION_1 only (check 5) */
        pushl $0
        call vp_features
        addl $4, %esp
        movl common, %edi

        /* queue 0: size, rings, ENABLE — then the vectors (NetBSD's order) */
        pushl $0
        pushl $used
        pushl $avail
        pushl $desc
        pushl $QSIZE
        pushl $0
        call vp_queue                     /* check 6: smaller than 8 */
        addl $24, %esp
        movl %eax, notify_off
        movzwl 0x1c(%edi), %eax
        EXPECT %eax, $1, 14               /* the queue is enabled now */

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
msix_size:   .long 0
msix_table:  .long 0
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
