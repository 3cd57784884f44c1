/*
 * blk-records (run by test/blkkill/blk-kill.sh, not by tests.tsv: the host
 * side kills qvm and reads the disk): writes numbered 512-byte records to
 * a virtio-blk disk (virtio-pci 1AF4:1042 found by a CF8/CFC scan of bus
 * 0, no interrupts: it polls the used ring) and reports each on COM1:
 *   record n at sector n (n = 1, 2, ...): "REC %08u " then 498 times the
 *   letter 'a' + n % 26, then "\n";
 *   "BLK-WROTE n ok" once its write completed with status OK,
 *   "BLK-SYNCED n ok" once a FLUSH after it completed with status OK
 *   (the " ok" tells a whole line from one cut by a kill).
 * Between records it polls the ACPI PM1 status (port 0x600): when the
 * power button was pressed (PWRBTN_STS, qvm's SIGTERM) it prints
 * "BLK-POWEROFF n" and powers the VM off (SLP_TYP 5 | SLP_EN at 0x604),
 * without a last flush: whatever it wrote must be in the file after qvm's
 * clean exit. When the disk is full it prints "BLK-FULL n" and waits for
 * the button. Checks: 1 no virtio-blk, 2-4 capabilities missing
 * (vp_find: common configuration, MSI-X, notification), 11 no device
 * configuration capability, 5
 * FEATURES_OK refused, 6 queue too small, 7 no FLUSH feature, 8 a request
 * not completed (bounded wait), 9 a write's status, 10 a flush's status.
 */
        .include "common.inc"
        GUEST_NAME "blk-records"
        .include "virtio-pci.inc"

        .set QSIZE, 8
        .set PM1_STS, 0x600
        .set PM1_CNT, 0x604
        .set WAIT_STEPS, 20000000

/* submit(head): put descriptor chain `head` in the avail ring, notify
 * queue 0, wait (bounded) for the used ring to catch up. */
submit:
        pushal
        movl 36(%esp), %ebx
        movzwl avail + 2, %eax
        movl %eax, %ecx
        andl $(QSIZE - 1), %ecx
        movw %bx, avail + 4(,%ecx,2)
        incl %eax
        movw %ax, avail + 2               /* x86 stores are ordered */
        movl %eax, %esi                   /* the used idx to wait for */
        andl $0xffff, %esi
        movl notify_addr, %edi
        movw $0, (%edi)
        movl $WAIT_STEPS, %ecx
        movw $COM1_SCR, %dx
1:      movzwl used + 2, %eax
        cmpl %esi, %eax
        je 2f
        inb %dx, %al
        decl %ecx
        jnz 1b
        FAIL_MSG 8, "a request was not completed"
2:      popal
        ret

/* fmt8(v, dst): 8 decimal digits of v at dst */
fmt8:
        pushal
        movl 36(%esp), %eax
        movl 40(%esp), %edi
        movl $10, %ebx
        movl $8, %ecx
1:      xorl %edx, %edx
        divl %ebx
        addb $'0', %dl
        movb %dl, -1(%edi,%ecx)
        decl %ecx
        jnz 1b
        popal
        ret

/* button: if PWRBTN_STS is set, report and power off (does not return) */
button:
        pushl %eax
        pushl %edx
        movw $PM1_STS, %dx
        inw %dx, %ax
        testw $0x0100, %ax
        jz 1f
        PRINT "BLK-POWEROFF "
        pushl written
        call print_dec
        addl $4, %esp
        PRINT "\n"
        movw $PM1_CNT, %dx
        movw $0x3400, %ax                 /* SLP_TYP 5, SLP_EN */
        outw %ax, %dx
2:      pause
        jmp 2b
1:      popl %edx
        popl %eax
        ret

main:
        pushl $0x10421af4
        call vp_find                      /* checks 1-4 */
        addl $4, %esp
        cmpl $0, devcfg
        jne 9f
        FAIL_MSG 11, "no device configuration capability"
9:
        /* reset, ACKNOWLEDGE | DRIVER; features VERSION_1 and FLUSH */
        movl common, %edi
        movb $0, 0x14(%edi)
        movb $3, 0x14(%edi)
        movl $0, 0x00(%edi)               /* device_feature_select 0 */
        movl 0x04(%edi), %eax
        testl $(1 << 9), %eax
        jnz 10f
        FAIL_MSG 7, "the device offers no FLUSH"
10:     movl $1, 0x08(%edi)               /* driver_feature_select: bits 32-63 */
        movl $1, 0x0c(%edi)               /* VERSION_1 */
        movl $0, 0x08(%edi)
        movl $(1 << 9), 0x0c(%edi)        /* FLUSH */
        movb $0x0b, 0x14(%edi)            /* FEATURES_OK */
        movzbl 0x14(%edi), %eax
        EXPECT %eax, $0x0b, 5

        /* queue 0 */
        movw $0, 0x16(%edi)
        movzwl 0x18(%edi), %eax
        cmpl $QSIZE, %eax
        jae 11f
        FAIL_MSG 6, "queue 0 smaller than 8"
11:     movw $QSIZE, 0x18(%edi)
        movw $0xffff, 0x1a(%edi)          /* no MSI-X vector */
        movl $desc, 0x20(%edi)
        movl $0, 0x24(%edi)
        movl $avail, 0x28(%edi)
        movl $0, 0x2c(%edi)
        movl $used, 0x30(%edi)
        movl $0, 0x34(%edi)
        movw $1, 0x1c(%edi)               /* queue_enable */
        movzwl 0x1e(%edi), %eax
        mull notify_mult
        addl notify_base, %eax
        movl %eax, notify_addr
        movw $1, avail                    /* VIRTQ_AVAIL_F_NO_INTERRUPT */
        movb $0x0f, 0x14(%edi)            /* DRIVER_OK */

        /* capacity (sectors; the high half must be 0 here) */
        movl devcfg, %ebx
        movl (%ebx), %eax
        cmpl $0, 4(%ebx)
        je 12f
        movl $0x7fffffff, %eax
12:     decl %eax
        movl %eax, max_rec                /* sector 0 stays unused */
        PRINT "BLK-CAPACITY "
        pushl max_rec
        call print_dec
        addl $4, %esp
        PRINT "\n"

        /* chains: 0 -> 1 -> 2 a write (header, record, status); 3 -> 4 a
         * flush (header, status) */
        movl $hdr_w, desc + 0
        movl $16, desc + 8
        movw $1, desc + 12                /* NEXT */
        movw $1, desc + 14
        movl $rec, desc + 16
        movl $512, desc + 24
        movw $1, desc + 28
        movw $2, desc + 30
        movl $status_w, desc + 32
        movl $1, desc + 40
        movw $2, desc + 44                /* WRITE */
        movl $hdr_f, desc + 48
        movl $16, desc + 56
        movw $1, desc + 60
        movw $4, desc + 62
        movl $status_f, desc + 64
        movl $1, desc + 72
        movw $2, desc + 76
        movl $1, hdr_w                    /* VIRTIO_BLK_T_OUT */
        movl $4, hdr_f                    /* VIRTIO_BLK_T_FLUSH */
        movl $0x20434552, rec             /* "REC " */
        movb $' ', rec + 12
        movb $'\n', rec + 511

        movl $1, %ebx                     /* record number */
20:     call button
        cmpl max_rec, %ebx
        jbe 21f
        PRINT "BLK-FULL "
        pushl written
        call print_dec
        addl $4, %esp
        PRINT "\n"
22:     call button
        pushl $1000
        call delay
        addl $4, %esp
        jmp 22b
21:     pushl $rec + 4
        pushl %ebx
        call fmt8
        addl $8, %esp
        movl %ebx, %eax                   /* the letter: 'a' + n % 26 */
        xorl %edx, %edx
        movl $26, %ecx
        divl %ecx
        addb $'a', %dl
        movb %dl, %al
        leal rec + 13, %edi
        movl $498, %ecx
        rep stosb
        movl %ebx, hdr_w + 8              /* sector n */
        movl $0, hdr_w + 12
        movb $0xff, status_w
        pushl $0
        call submit
        addl $4, %esp
        movzbl status_w, %eax
        EXPECT %eax, $0, 9
        movl %ebx, written
        PRINT "BLK-WROTE "
        pushl %ebx
        call print_dec
        addl $4, %esp
        PRINT " ok\n"
        movb $0xff, status_f
        pushl $3
        call submit
        addl $4, %esp
        movzbl status_f, %eax
        EXPECT %eax, $0, 10
        PRINT "BLK-SYNCED "
        pushl %ebx
        call print_dec
        addl $4, %esp
        PRINT " ok\n"
        incl %ebx
        jmp 20b

        .data
notify_addr: .long 0
max_rec:     .long 0
written:     .long 0

        .bss
        .balign 4096
desc:   .skip 16 * QSIZE
        .balign 2
avail:  .skip 6 + 2 * QSIZE
        .balign 4096
used:   .skip 6 + 8 * QSIZE
        .balign 16
hdr_w:  .skip 16
hdr_f:  .skip 16
status_w: .skip 4
status_f: .skip 4
        .balign 512
rec:    .skip 512
