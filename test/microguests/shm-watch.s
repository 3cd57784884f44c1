/* shm-watch: attach, wait for a peer (shm-sleep), then for it to drop out
 * of the active set when test/shm/run.sh kills its qvm. */
        .include "shm.inc"
        GUEST_NAME "shm-watch"
main:
        call shm_attach
        EXPECT %eax, $0, 1
        call shm_setup
        call shm_poll
        sti
        WAIT_OTHERS 1
        testl %eax, %eax
        jnz 1f
        FAIL_MSG 2, "shm-watch: no peer attached"
1:      PRINT "shm-watch: peer attached\n"
        WAIT_OTHERS 0
        EXPECT %eax, $0, 3
        PRINT "shm-watch: peer dropped out\n"
        ret
