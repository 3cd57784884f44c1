/* msr-mtrr: the MSRs that firmware-less guests (Linux, the BSDs, QNX) lean
 * on. Proves: IA32_TIME_STAMP_COUNTER (0x10) writes set the guest's TSC
 * (forwards and backwards: a read lies in [written, written + 2^38), no
 * tighter, as the TSC runs on while the vCPU is descheduled) and reads
 * advance (RDTSC follows too where the
 * host can offset it: not on kvm_pvm);
 * MTRRcap reports fixed ranges and >= 1 variable range; MTRRdefType reads
 * qvm's power-on value (E | FE | WB) and keeps what is written; every fixed
 * range MTRR (0x250, 0x258, 0x259, 0x268-0x26f) and every variable range
 * pair (PHYSBASEn/PHYSMASKn, up to 8) reads back what was written; an
 * invalid memory type in MTRRdefType is refused with #GP; PAT reads
 * its power-on value and keeps a Linux-style value; IA32_MISC_ENABLE has
 * fast strings; an unknown MSR (0xc0011fff) gets #GP under the default
 * `unsupported` policy (no `unsupported` line in the config). */
        .include "common.inc"
        GUEST_NAME "msr-mtrr"

        .set UNKNOWN_MSR, 0xc0011fff

/* #GP from RDMSR/WRMSR (both 2 bytes): count it and skip the instruction. */
gp_handler:
        incl gp_count
        addl $4, %esp                   /* error code */
        addl $2, (%esp)                 /* EIP past rdmsr/wrmsr */
        INTR_RETURN

/* wr(msr=ecx, edx:eax) then rd, result in edx:eax */
        .macro WRRD msr, hi, lo
        movl \msr, %ecx
        movl \hi, %edx
        movl \lo, %eax
        wrmsr
        movl \msr, %ecx
        xorl %eax, %eax
        xorl %edx, %edx
        rdmsr
        .endm

main:
        SET_GATE 13, gp_handler

        /* ---- TSC ----
         * The TSC runs on while the vCPU is descheduled, so a value read
         * after a write of W may be anything in [W, W + 2^38): 2^38 ticks
         * are over 50 s even at 5 GHz, longer than a run may take. */
        WRRD $0x10, $0x100, $0
        movl %eax, t0
        movl %edx, t0 + 4
        cmpl $0x100, %edx               /* 0x100_00000000 <= TSC */
        jb 11f
        cmpl $0x13f, %edx               /*   < 0x140_00000000 */
        jbe 12f
11:     pushl $0x100
        pushl %edx
        pushl $1
        call fail                       /* high half of the read back */
12:     movl $0x10, %ecx
        rdmsr
        cmpl t0 + 4, %edx               /* advanced (64-bit) */
        ja 1f
        jb 13f
        cmpl t0, %eax
        ja 1f
13:     FAIL_MSG 3, "TSC MSR did not advance after a write"
1:      /* RDTSC follows the written value where the host can offset it
         * (hardware KVM); kvm_pvm runs RDTSC natively (see README). */
        movl %edx, t0 + 4
        movl %eax, t0
        rdtsc
        cmpl $0x100, %edx
        jb 2f
        cmpl $0x13f, %edx
        ja 2f
        cmpl t0 + 4, %edx
        ja 3f
        jb 14f
        cmpl t0, %eax
        ja 3f
14:     FAIL_MSG 4, "RDTSC behind the TSC MSR"
2:      PRINT "msr-mtrr: note: RDTSC does not follow TSC writes on this host\n"
3:      /* backwards: from >= 2^40 to 0x1000 */
        movl $0x10, %ecx
        xorl %edx, %edx
        movl $0x1000, %eax
        wrmsr
        movl $0x10, %ecx
        rdmsr
        cmpl $0x40, %edx                /* < 2^38: it went back */
        jb 5f
        FAIL_MSG 8, "TSC did not go back to the value written"
5:      testl %edx, %edx
        jnz 4f
        cmpl $0x1000, %eax
        jae 4f
        FAIL_MSG 7, "TSC below the value just written"
4:      PRINT "msr-mtrr: TSC writes and reads ok\n"

        /* ---- MISC_ENABLE fast strings ---- */
        movl $0x1a0, %ecx
        rdmsr
        andl $1, %eax
        EXPECT %eax, $1, 9

        /* ---- MTRRs ---- */
        movl $0xfe, %ecx
        rdmsr
        movl %eax, %ebx
        andl $0x100, %ebx
        EXPECT %ebx, $0x100, 10         /* FIX */
        andl $0xff, %eax
        jnz 5f
        FAIL_MSG 11, "MTRRcap reports no variable ranges"
5:      cmpl $8, %eax
        jbe 6f
        movl $8, %eax
6:      movl %eax, vcnt
        movl $0x2ff, %ecx
        rdmsr
        EXPECT %eax, $0xc06, 12         /* qvm's power-on E|FE|WB */
        WRRD $0x2ff, $0, $0x806
        EXPECT %eax, $0x806, 13
        /* fixed ranges */
        movl $fixed_msrs, %esi
7:      movl (%esi), %ecx
        testl %ecx, %ecx
        jz 8f
        movl $0x06050401, %edx
        movl $0x00060504, %eax
        wrmsr
        xorl %eax, %eax
        xorl %edx, %edx
        rdmsr
        EXPECT %eax, $0x00060504, 14
        EXPECT %edx, $0x06050401, 15
        movl $0x06060606, %eax          /* back to WB */
        movl %eax, %edx
        wrmsr
        addl $4, %esi
        jmp 7b
8:      /* variable ranges: base (n+1)*256M WB, mask 0xf0000000 | V */
        xorl %edi, %edi
9:      cmpl vcnt, %edi
        jae 10f
        leal 0x200(,%edi,2), %ecx
        movl %edi, %eax
        incl %eax
        shll $28, %eax
        orl $6, %eax
        movl %eax, %ebx
        xorl %edx, %edx
        wrmsr
        xorl %eax, %eax
        rdmsr
        EXPECT %eax, %ebx, 16
        leal 0x201(,%edi,2), %ecx
        movl $0xf0000800, %eax
        xorl %edx, %edx
        wrmsr
        xorl %eax, %eax
        rdmsr
        EXPECT %eax, $0xf0000800, 17
        xorl %eax, %eax                 /* disable it again */
        xorl %edx, %edx
        wrmsr
        incl %edi
        jmp 9b
10:     /* invalid default type 2 -> #GP, value unchanged */
        movl gp_count, %ebx
        movl $0x2ff, %ecx
        xorl %edx, %edx
        movl $0xc02, %eax
        wrmsr
        incl %ebx
        EXPECT gp_count, %ebx, 18
        movl $0x2ff, %ecx
        rdmsr
        EXPECT %eax, $0x806, 19
        WRRD $0x2ff, $0, $0xc06
        EXPECT %eax, $0xc06, 20
        PRINT "msr-mtrr: MTRRs ok\n"

        /* ---- PAT ---- */
        movl $0x277, %ecx
        rdmsr
        EXPECT %eax, $0x00070406, 21
        EXPECT %edx, $0x00070406, 22
        WRRD $0x277, $0x00070106, $0x00070106
        EXPECT %eax, $0x00070106, 23
        EXPECT %edx, $0x00070106, 24
        /* (an invalid PAT type is not checked: kvm_pvm accepts it) */
        WRRD $0x277, $0x00070406, $0x00070406
        EXPECT %eax, $0x00070406, 25
        PRINT "msr-mtrr: PAT ok\n"

        /* ---- unknown MSR: default policy is #GP ---- */
        movl gp_count, %ebx
        movl $UNKNOWN_MSR, %ecx
        rdmsr
        movl $UNKNOWN_MSR, %ecx
        xorl %eax, %eax
        xorl %edx, %edx
        wrmsr
        addl $2, %ebx
        EXPECT gp_count, %ebx, 26
        PRINT "msr-mtrr: unknown MSR #GP ok\n"
        ret

        .section .rodata
fixed_msrs:
        .long 0x250, 0x258, 0x259
        .long 0x268, 0x269, 0x26a, 0x26b, 0x26c, 0x26d, 0x26e, 0x26f
        .long 0
        .text

        .data
gp_count: .long 0
vcnt:     .long 0
t0:       .long 0, 0
        .text
