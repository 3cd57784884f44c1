/* msr-fault: unknown MSRs under `set msr-unknown fault` (config msr-fault,
 * with `unsupported ignore` for everything else) and with no policy at all
 * (config msr-fault-default: the architectural default): RDMSR and WRMSR
 * of an unknown MSR raise #GP(0) in the guest, RDMSR leaves EDX:EAX
 * untouched, execution continues after the instruction; IA32_APIC_BASE
 * does not fault. */
        .include "common.inc"
        .include "msr-unknown.inc"
        GUEST_NAME "msr-fault"
main:
        SET_GATE 13, gp_handler
        movl $0x55aa, gp_error
        pushl $UNKNOWN_MSR
        call rd_unknown
        addl $4, %esp
        EXPECT gp_count, $1, 1
        EXPECT gp_error, $0, 2
        EXPECT %eax, $0xffffffff, 3
        EXPECT %edx, $0xffffffff, 4
        movl $0x55aa, gp_error
        pushl $UNKNOWN_MSR2
        call wr_unknown
        addl $4, %esp
        EXPECT gp_count, $2, 5
        EXPECT gp_error, $0, 6
        movl $0x1b, %ecx
        rdmsr
        EXPECT gp_count, $2, 7
        PRINT "msr-fault: #GP(0) for unknown MSR reads and writes ok\n"
        ret
