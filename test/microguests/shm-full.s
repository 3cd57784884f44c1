/* shm-full: attaching region "mg-shm" while it has 16 clients already
 * (test/shm/run.sh fills it) answers "client max" (status 3). */
        .include "shm.inc"
        GUEST_NAME "shm-full"
main:
        call shm_attach
        EXPECT %eax, $3, 1
        PRINT "shm-full: client max\n"
        ret
