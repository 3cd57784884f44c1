/* unsupported-terminate: the `unsupported terminate` policy. The guest reads
 * a port nothing owns; qvm must stop with exit code 5 ("unsupported
 * operation under a terminate policy", spec section 4) before the guest can
 * report anything else. If the read returns, the guest fails with 1. */
        .include "common.inc"
        GUEST_NAME "unsupported-terminate"
main:
        PRINT "unsupported-terminate: reading unassigned port 0x2f0\n"
        movw $UNASSIGNED_PORT, %dx
        inb %dx, %al
        pushl $100000                   /* let an asynchronous stop land */
        call delay
        addl $4, %esp
        FAIL_MSG 1, "qvm did not terminate on an unassigned port read"
