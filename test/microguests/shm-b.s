/* shm-b: the other side of shm-a: attach, wait (interrupts only) for the
 * peer's notification, check page 0, write page 2, notify the peer. */
        .include "shm.inc"
        GUEST_NAME "shm-b"
main:
        call shm_attach
        EXPECT %eax, $0, 1
        call shm_setup
        sti                             /* the handler is the only reader */
        call wait_pending
        testl %eax, %eax
        jnz 1f
        FAIL_MSG 2, "shm-b: no notification from the peer"
1:      movl %eax, peer
        VERIFY 0, 7, 1
        EXPECT %eax, $0, 3
        FILL 8192, 13, 5
        movl ctl, %ebx
        movl peer, %eax
        movl %eax, 8(%ebx)
        cmpl $0, polls                  /* only the handler reads status */
        jne 2f
        FAIL_MSG 4, "shm-b: no interrupt"
2:
        PRINT "shm-b: buffer exchanged both ways with interrupts\n"
        ret

        .bss
peer:   .long 0
        .text
