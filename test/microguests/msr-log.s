/* msr-log: `unsupported log`: 1000 reads and writes of each of two unknown
 * MSRs read 0 and raise no #GP; qvm logs each MSR and direction once
 * (tests.tsv: the four lines are there and the log stays small, where a
 * per-access log would only be rate-limited). */
        .include "common.inc"
        .include "msr-unknown.inc"
        GUEST_NAME "msr-log"
main:
        ABSORB 1000, 1
        PRINT "msr-log: unknown MSRs absorbed ok\n"
        ret
