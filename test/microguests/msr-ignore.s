/* msr-ignore: `unsupported log` for ports but `set msr-unknown ignore`:
 * 200 reads and writes of two unknown MSRs read 0, raise no #GP and log
 * nothing (tests.tsv: no "unhandled MSR" line); IA32_APIC_BASE still
 * reads normally. */
        .include "common.inc"
        .include "msr-unknown.inc"
        GUEST_NAME "msr-ignore"
main:
        ABSORB 200, 1
        PRINT "msr-ignore: unknown MSRs ignored ok\n"
        ret
