/* shm-sleep: attach and stay until killed (test/shm/run.sh kills its qvm
 * with SIGKILL; shm-watch sees it drop out). Bounded: fails after ~ROUNDS
 * rounds if nobody kills it. */
        .include "shm.inc"
        GUEST_NAME "shm-sleep"
main:
        call shm_attach
        EXPECT %eax, $0, 1
        call shm_setup
        PRINT "shm-sleep: attached\n"
        movl $ROUNDS, %ecx
1:      DELAY 100
        decl %ecx
        jnz 1b
        FAIL_MSG 2, "shm-sleep: never killed"
