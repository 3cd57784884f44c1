/* mtrr-uc: `set mtrr-default-type uc`: every vCPU starts with
 * IA32_MTRR_DEF_TYPE = 0xC00 (MTRRs and fixed ranges enabled, default
 * uncached) instead of qvm's write-back default (0xC06, msr-mtrr), and the
 * guest can still change it. */
        .include "common.inc"
        GUEST_NAME "mtrr-uc"
main:
        movl $0x2ff, %ecx
        rdmsr
        EXPECT %eax, $0xc00, 1
        EXPECT %edx, $0, 2
        movl $0x2ff, %ecx
        movl $0xc06, %eax
        xorl %edx, %edx
        wrmsr
        movl $0x2ff, %ecx
        rdmsr
        EXPECT %eax, $0xc06, 3
        PRINT "mtrr-uc: MTRRdefType 0xc00 at start ok\n"
        ret
