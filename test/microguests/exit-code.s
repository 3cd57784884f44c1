/* exit-code: proves that a failing guest is detected. The guest writes 5 to
 * the debug-exit port; qvm must end with exit code (5 << 1) | 1 = 11, as
 * QEMU's isa-debug-exit does (and the runner must see that, not "pass"). */
        .include "common.inc"
        GUEST_NAME "exit-code"
main:
        PRINT "exit-code: writing 5 to the debug-exit port\n"
        movb $5, %al
        outb %al, $DEBUG_EXIT
        /* qvm stops the VM asynchronously (qvm_exit_code): give it ~0.5-1 s
         * of port exits before concluding that the write did nothing. */
        pushl $100000
        call delay
        addl $4, %esp
        FAIL_MSG 6, "debug-exit write of 5 did not end qvm"
