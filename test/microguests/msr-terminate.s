/* msr-terminate: `unsupported terminate`: the first RDMSR of an unknown
 * MSR ends qvm with exit code 5 and an error naming the MSR; the guest
 * never gets past it (tests.tsv: exit 5, no FAIL line). */
        .include "common.inc"
        .include "msr-unknown.inc"
        GUEST_NAME "msr-terminate"
main:
        SET_GATE 13, gp_handler
        PRINT "msr-terminate: reading unknown MSR 0xc0011fff\n"
        pushl $UNKNOWN_MSR
        call rd_unknown
        addl $4, %esp
        FAIL_MSG 1, "the guest continued after the terminating MSR read"
