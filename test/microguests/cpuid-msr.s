/* cpuid-msr: CPUID and MSR paths. Proves: CPUID leaf 0 gives a max leaf >= 1
 * and a vendor; leaf 1 reports APIC and TSC and initial APIC ID 0 (the vCPU
 * model qvm installed); IA32_APIC_BASE reads 0xFEE00900 (enabled, BSP, the
 * xAPIC base); the TSC MSR and RDTSC agree and advance; an MSR nobody
 * implements (0xc0011fff) reads 0 and a write to it is
 * dropped without #GP under `unsupported ignore` (spec: unknown MSRs follow
 * the unsupported policy). */
        .include "common.inc"
        GUEST_NAME "cpuid-msr"

        .set UNKNOWN_MSR, 0xc0011fff

main:
        /* 1. CPUID */
        xorl %eax, %eax
        cpuid
        cmpl $1, %eax
        jae 1f
        FAIL_MSG 1, "CPUID max leaf < 1"
1:      orl %ecx, %ebx
        orl %edx, %ebx
        jnz 2f
        FAIL_MSG 2, "CPUID vendor is empty"
2:      movl $1, %eax
        cpuid
        movl %edx, %eax
        andl $0x210, %eax               /* APIC (bit 9), TSC (bit 4) */
        EXPECT %eax, $0x210, 3
        shrl $24, %ebx
        EXPECT %ebx, $0, 4              /* initial APIC ID */
        PRINT "cpuid-msr: CPUID ok\n"

        /* 2. IA32_APIC_BASE */
        movl $0x1b, %ecx
        rdmsr
        andl $0xfffff900, %eax
        EXPECT %eax, $0xfee00900, 5
        /* 3. TSC: rdmsr(0x10) <= rdtsc <= rdmsr(0x10), 64-bit compares */
        movl $0x10, %ecx
        rdmsr
        movl %eax, t0
        movl %edx, t0 + 4
        rdtsc
        movl %eax, t1
        movl %edx, t1 + 4
        movl $0x10, %ecx
        rdmsr
        movl %eax, t2
        movl %edx, t2 + 4
        movl t1, %eax
        movl t1 + 4, %edx
        subl t0, %eax
        sbbl t0 + 4, %edx
        jns 3f
        FAIL_MSG 6, "RDTSC went backwards from the TSC MSR"
3:      movl t2, %eax
        movl t2 + 4, %edx
        subl t1, %eax
        sbbl t1 + 4, %edx
        jns 4f
        FAIL_MSG 7, "TSC MSR went backwards from RDTSC"
4:      movl t2, %eax
        movl t2 + 4, %edx
        cmpl t0, %eax
        jne 5f
        cmpl t0 + 4, %edx
        jne 5f
        FAIL_MSG 8, "TSC did not advance"
5:      PRINT "cpuid-msr: APIC base and TSC ok\n"

        /* 4. unknown MSR under `unsupported ignore`: reads 0, no #GP */
        movl $UNKNOWN_MSR, %ecx
        movl $0x12345678, %eax
        movl $0x9abcdef0, %edx
        wrmsr
        movl $UNKNOWN_MSR, %ecx
        movl $0xffffffff, %eax
        movl $0xffffffff, %edx
        rdmsr
        EXPECT %eax, $0, 9
        EXPECT %edx, $0, 10
        PRINT "cpuid-msr: unknown MSR ignored ok\n"
        ret

        .bss
        .balign 8
t0:     .quad 0
t1:     .quad 0
t2:     .quad 0
        .text
