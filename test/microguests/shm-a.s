/* shm-a: with shm-b in another qvm (test/shm/run.sh), exchange a buffer
 * through region "mg-shm" in both directions with interrupts: attach, wait
 * until the peer is active, write page 0, notify it, wait for its
 * notification (an interrupt), check the page it wrote (page 2). */
        .include "shm.inc"
        GUEST_NAME "shm-a"
main:
        call shm_attach
        EXPECT %eax, $0, 1              /* GSS_OK */
        call shm_setup
        call shm_poll                   /* the peer may be there already */
        sti
        WAIT_OTHERS 1
        testl %eax, %eax
        jnz 1f
        FAIL_MSG 2, "shm-a: no peer attached"
1:      movl %eax, peer
        PRINT "shm-a: peer active\n"
        FILL 0, 7, 1
        movl ctl, %ebx
        movl peer, %eax
        movl %eax, 8(%ebx)              /* notify */
        call wait_pending
        testl %eax, %eax
        jnz 2f
        FAIL_MSG 3, "shm-a: no notification from the peer"
2:      movl peer, %eax
        EXPECT pending, %eax, 4
        VERIFY 8192, 13, 5
        EXPECT %eax, $0, 5
        PRINT "shm-a: buffer exchanged both ways with interrupts\n"
        ret

        .bss
peer:   .long 0
        .text
