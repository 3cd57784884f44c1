/*
 * hostile-virtq: malformed virtqueues from a real guest against
 * virtio-entropy, virtio-blk and virtio-net (transmit queue) over PCI.
 * For each device and each attack: reset the device, negotiate VERSION_1
 * (and INDIRECT_DESC, offered by all three), set up one queue of 8, post
 * the attack and kick. Attacks:
 *   a descriptor whose next points back at itself; a chain through all 8
 *   descriptors and back (longer than the queue); a next index past the
 *   table; a buffer outside RAM; a buffer whose addr+len wraps past 2^64;
 *   an empty buffer; a readable buffer after a writable one; an indirect
 *   table inside an indirect table; an indirect table of absurd length
 *   (0xfffffff0 bytes); an indirect table whose address wraps; avail.idx
 *   jumping by more than the queue size; a chain head past the queue; a
 *   used ring outside RAM, one straddling the end of RAM and one above
 *   4 GiB (refused at queue_enable).
 * The device must refuse each (checks): it sets NEEDS_RESET (status bit
 * 0x40) within 20 s of the kick (PM timer; check 6) and completes nothing
 * (used.idx stays 0; check 7). After each attack the guest resets the
 * device and posts a valid request, which must complete (check 8; blk:
 * status byte OK, check 9; entropy: bytes written, check 11). Checks
 * 1-6 are virtio-pci.inc's (device, capabilities, features refused, a
 * queue smaller than 8).
 * Run by the table (tests.tsv) and by test/hostile/run.sh, which watches
 * qvm from outside meanwhile.
 */
        .include "common.inc"
        GUEST_NAME "hostile-virtq"
        .include "virtio-pci.inc"

        .set QSIZE, 8
        .set RAM_END, 0x01000000          /* config: ram 16M */
        .set F_NEXT, 1
        .set F_WRITE, 2
        .set F_IND, 4
        .set INDIRECT_DESC, 1 << 28
        .set NEEDS_RESET, 0x40
        .set PM_20S, 3579545 * 20

/* DESC table, i, addr_lo, addr_hi, len, flags | next << 16 */
        .macro DESC base, i, lo, hi, len, fn
        movl \lo, \base + 16 * \i
        movl \hi, \base + 16 * \i + 4
        movl \len, \base + 16 * \i + 8
        movl \fn, \base + 16 * \i + 12
        .endm

        .macro WAIT_FOR predicate
        pushl $\predicate
        call wait_for
        addl $4, %esp
        .endm

main:
        movl $devices, %esi
1:      cmpl $0, (%esi)
        je 9f
        pushl (%esi)
        call vp_find
        addl $4, %esp
        movl 4(%esi), %eax
        movl %eax, vq
        movl $attacks, %ebx
2:      cmpl $0, (%ebx)
        je 8f
        PRINT "hostile-virtq: "
        pushl 12(%esi)
        call print
        pushl 4(%ebx)
        call print
        addl $8, %esp
        /* the attack */
        pushl 12(%ebx)
        pushl 8(%ebx)
        call vq_setup
        addl $8, %esp
        call *(%ebx)
        call kick
        WAIT_FOR needs_reset
        testl %eax, %eax
        jnz 3f
        FAIL_MSG 6, "the device accepted the malformed queue (no NEEDS_RESET within 20 s)"
3:      movzwl used + 2, %eax
        EXPECT %eax, $0, 7
        /* a reset device works again */
        pushl $0
        pushl $used
        call vq_setup
        addl $8, %esp
        call *8(%esi)
        call kick
        WAIT_FOR used_one
        testl %eax, %eax
        jnz 4f
        FAIL_MSG 8, "a valid request after the reset did not complete within 20 s"
4:      call *16(%esi)                    /* the device's own check */
        PRINT ": refused, then works after reset\n"
        incl refused
        addl $16, %ebx
        jmp 2b
8:      movl common, %edi
        movb $0, 0x14(%edi)               /* leave it reset */
        addl $20, %esi
        jmp 1b
9:      PRINT "hostile-virtq: "
        pushl refused
        call print_dec
        addl $4, %esp
        PRINT " malformed queues refused\n"
        ret

/* vq_setup(used_lo, used_hi): reset, features, queue `vq` of QSIZE with
 * the rings cleared and its used ring at the given address, enable,
 * DRIVER_OK. Preserves every register. */
vq_setup:
        pushal
        movl $rings, %edi
        movl $(rings_end - rings) / 4, %ecx
        xorl %eax, %eax
        rep stosl
        movl common, %edi
        movl $0, 0x00(%edi)               /* device features 0-31 */
        movl 0x04(%edi), %ebx
        andl $INDIRECT_DESC, %ebx
        pushl %ebx
        call vp_features                  /* reset, negotiate (check 5) */
        addl $4, %esp
        pushl 40(%esp)
        pushl 40(%esp)                    /* used_hi, used_lo */
        pushl $avail
        pushl $desc
        pushl $QSIZE
        pushl vq
        call vp_queue                     /* check 6: smaller than 8 */
        addl $24, %esp
        movl %eax, notify_off
        movb $0x0f, 0x14(%edi)            /* DRIVER_OK */
        popal
        ret

/* kick: notify queue `vq`. Preserves every register. */
kick:
        pushal
        movl notify_off, %eax
        mull notify_mult
        addl notify_base, %eax
        movl vq, %ecx
        movw %cx, (%eax)
        popal
        ret

/* publish(head, idx): avail.ring[0] = head, avail.idx = idx */
publish:
        pushl %eax
        movl 8(%esp), %eax
        movw %ax, avail + 4
        movl 12(%esp), %eax
        movw %ax, avail + 2
        popl %eax
        ret
        .macro PUBLISH head, idx
        pushl $\idx
        pushl $\head
        call publish
        addl $8, %esp
        .endm

/* wait_for(predicate): %eax = 1 once predicate() returns nonzero, 0 when
 * 20 s of PM timer pass first */
wait_for:
        pushl %ebx
        call pm_now
        movl %eax, %ebx
1:      call *8(%esp)
        testl %eax, %eax
        jnz 2f
        call pm_now
        subl %ebx, %eax
        cmpl $PM_20S, %eax
        jb 1b
        xorl %eax, %eax
        jmp 3f
2:      movl $1, %eax
3:      popl %ebx
        ret
/* the device status has NEEDS_RESET */
needs_reset:
        movl common, %eax
        movzbl 0x14(%eax), %eax
        andl $NEEDS_RESET, %eax
        ret
/* used.idx is 1 */
used_one:
        movzwl used + 2, %eax
        cmpl $1, %eax
        sete %al
        movzbl %al, %eax
        ret

/* ---- the attacks (rings cleared, queue enabled; they post, main kicks) -- */

atk_self_loop:
        DESC desc, 0, $buf, $0, $64, $(F_NEXT|F_WRITE)     /* next 0 */
        PUBLISH 0, 1
        ret

atk_cycle:
        xorl %ecx, %ecx
1:      movl %ecx, %edx
        shll $4, %edx
        movl $buf, desc(%edx)
        movl $0, desc + 4(%edx)
        movl $64, desc + 8(%edx)
        leal 1(%ecx), %eax
        andl $QSIZE - 1, %eax
        shll $16, %eax
        orl $(F_NEXT|F_WRITE), %eax
        movl %eax, desc + 12(%edx)
        incl %ecx
        cmpl $QSIZE, %ecx
        jb 1b
        PUBLISH 0, 1
        ret

atk_next_oob:
        DESC desc, 0, $buf, $0, $64, $(F_NEXT|F_WRITE|200<<16)
        PUBLISH 0, 1
        ret

atk_outside:
        DESC desc, 0, $0x40000000, $0, $64, $F_WRITE
        PUBLISH 0, 1
        ret

atk_wrap:
        DESC desc, 0, $0xfffff000, $0xffffffff, $0x2000, $F_WRITE
        PUBLISH 0, 1
        ret

atk_empty:
        DESC desc, 0, $buf, $0, $0, $F_WRITE
        PUBLISH 0, 1
        ret

atk_order:
        DESC desc, 0, $buf, $0, $64, $(F_NEXT|F_WRITE|1<<16)
        DESC desc, 1, $(buf+64), $0, $64, $0
        PUBLISH 0, 1
        ret

atk_nested:
        DESC desc, 0, $ind, $0, $32, $F_IND
        DESC ind, 0, $ind2, $0, $16, $F_IND
        DESC ind2, 0, $buf, $0, $64, $F_WRITE
        PUBLISH 0, 1
        ret

atk_ind_huge:
        DESC desc, 0, $ind, $0, $0xfffffff0, $F_IND
        DESC ind, 0, $buf, $0, $64, $F_WRITE
        PUBLISH 0, 1
        ret

atk_ind_wrap:
        DESC desc, 0, $0xfffffff0, $0xffffffff, $0x20, $F_IND
        PUBLISH 0, 1
        ret

atk_avail_jump:
        DESC desc, 0, $buf, $0, $64, $F_WRITE
        PUBLISH 0, QSIZE+5
        ret

atk_head_oob:
        DESC desc, 0, $buf, $0, $64, $F_WRITE
        PUBLISH QSIZE+3, 1
        ret

/* used ring outside RAM: queue_enable already refused; a request anyway */
atk_post:
        DESC desc, 0, $buf, $0, $64, $F_WRITE
        PUBLISH 0, 1
        ret

/* ---- valid requests and their checks --------------------------------- */

good_rng:                                 /* 64 device-writable bytes */
        DESC desc, 0, $buf, $0, $64, $F_WRITE
        PUBLISH 0, 1
        ret
check_rng:
        movl used + 8, %eax               /* used.ring[0].len */
        testl %eax, %eax
        jnz 1f
        FAIL_MSG 11, "virtio-entropy returned the buffer empty"
1:      ret

good_blk:                                 /* read sector 0 */
        movl $0, hdr                      /* VIRTIO_BLK_T_IN */
        movl $0, hdr + 4
        movl $0, hdr + 8
        movl $0, hdr + 12
        movb $0xff, status
        DESC desc, 0, $hdr, $0, $16, $(F_NEXT|1<<16)
        DESC desc, 1, $buf, $0, $512, $(F_NEXT|F_WRITE|2<<16)
        DESC desc, 2, $status, $0, $1, $F_WRITE
        PUBLISH 0, 1
        ret
check_blk:
        movzbl status, %eax
        EXPECT %eax, $0, 9
        ret

good_net:                                 /* virtio_net_hdr + a 60-byte frame */
        DESC desc, 0, $buf, $0, $72, $0
        PUBLISH 0, 1
        ret
check_none:
        ret

        .section .rodata
n_rng:  .asciz "virtio-entropy"
n_blk:  .asciz "virtio-blk"
n_net:  .asciz "virtio-net"
a1:     .asciz " descriptor loop (next = itself)"
a2:     .asciz " chain through every descriptor and back"
a3:     .asciz " next index past the table"
a4:     .asciz " buffer outside RAM"
a5:     .asciz " buffer address+length wrapping past 2^64"
a6:     .asciz " empty buffer"
a7:     .asciz " readable buffer after a writable one"
a8:     .asciz " indirect table inside an indirect table"
a9:     .asciz " indirect table of 0xfffffff0 bytes"
a10:    .asciz " indirect table address wrapping"
a11:    .asciz " avail.idx jumping past the queue size"
a12:    .asciz " chain head past the queue"
a13:    .asciz " used ring outside RAM"
a14:    .asciz " used ring across the end of RAM"
a15:    .asciz " used ring above 4 GiB"

        .data
        .balign 4
/* id (vendor | device << 16), queue, valid request, name, check */
devices:
        .long 0x10441af4, 0, good_rng, n_rng, check_rng
        .long 0x10421af4, 0, good_blk, n_blk, check_blk
        .long 0x10411af4, 1, good_net, n_net, check_none
        .long 0
/* attack, name, used ring address (lo, hi) */
attacks:
        .long atk_self_loop, a1, used, 0
        .long atk_cycle, a2, used, 0
        .long atk_next_oob, a3, used, 0
        .long atk_outside, a4, used, 0
        .long atk_wrap, a5, used, 0
        .long atk_empty, a6, used, 0
        .long atk_order, a7, used, 0
        .long atk_nested, a8, used, 0
        .long atk_ind_huge, a9, used, 0
        .long atk_ind_wrap, a10, used, 0
        .long atk_avail_jump, a11, used, 0
        .long atk_head_oob, a12, used, 0
        .long atk_post, a13, 0x40000000, 0
        .long atk_post, a14, RAM_END - 16, 0
        .long atk_post, a15, 0, 1
        .long 0
vq:         .long 0
notify_off: .long 0
refused:    .long 0

        .bss
        .balign 4096
rings:
desc:   .skip 16 * QSIZE
        .balign 2
avail:  .skip 6 + 2 * QSIZE
        .balign 4096
used:   .skip 6 + 8 * QSIZE
        .balign 16
ind:    .skip 16 * 2
ind2:   .skip 16
hdr:    .skip 16
status: .skip 4
buf:    .skip 512
rings_end:
