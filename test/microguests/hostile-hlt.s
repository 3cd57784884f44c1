/*
 * hostile-hlt: `cli; hlt` forever (a vCPU that never wakes again). Not in
 * tests.tsv: test/hostile/run.sh starts it and checks from outside that
 * qvm stays responsive on /dev/qvm (`qvmctl status`, `qvmctl dump`), uses
 * no CPU while the vCPU is halted, and that `qvmctl kill` ends it with
 * QNX's exit code (3). The loop re-halts should anything wake the vCPU.
 */
        .include "common.inc"
        GUEST_NAME "hostile-hlt"

main:
        PRINT "hostile-hlt: cli; hlt forever\n"
1:      cli
        hlt
        jmp 1b
