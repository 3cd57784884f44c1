/*
 * hostile-msr: MSR and CPUID floods. Every MSR index of 0x0-0x1fff,
 * 0x40000000-0x400000ff and 0xc0000000-0xc0001fff is read; one that reads
 * is written back with the value read, one that faults (#GP) is written
 * with a pattern. A #GP handler skips the faulting RDMSR/WRMSR (and fails
 * the guest, check 31, on any other faulting instruction). Then CPUID of
 * every leaf 0-0x100, 0x40000000-0x40000100 and 0x80000000-0x80000100,
 * each with subleaves 0-0x100 (198,147 executions), none may fault.
 * Checks: the TSC (0x10) reads (1); the unknown MSR 0xc0001fff faults
 * both ways, as `set msr-unknown` defaults to fault (2); after the floods
 * CPUID leaf 0 answers as before (3) and COM1's scratch register works (4).
 * The configuration keeps the default MSR policy, so qvm's log must stay
 * bounded (rate-limited). Run by the table and by test/hostile/run.sh.
 */
        .include "common.inc"
        GUEST_NAME "hostile-msr"

gp_handler:
        pushl %eax
        movl 8(%esp), %eax                /* EIP (after the error code) */
        cmpb $0x0f, (%eax)
        jne 1f
        cmpb $0x32, 1(%eax)               /* RDMSR */
        je 2f
        cmpb $0x30, 1(%eax)               /* WRMSR */
        je 2f
1:      popl %eax
        jmp unexpected_gp
2:      addl $2, %eax
        movl %eax, 8(%esp)
        incl gp_count
        popl %eax
        addl $4, %esp                     /* the error code */
        INTR_RETURN
unexpected_gp:
        FAIL_MSG 31, "#GP outside RDMSR/WRMSR"

/* msr_range(first, end): the flood over [first, end) */
msr_range:
        pushal
        movl 36(%esp), %esi
1:      movl gp_count, %ebx
        movl %esi, %ecx
        xorl %eax, %eax
        xorl %edx, %edx
        rdmsr
        cmpl gp_count, %ebx
        jne 2f
        incl reads
        movl %esi, %ecx
        wrmsr                             /* the value read */
        jmp 3f
2:      movl gp_count, %ebx
        movl %esi, %ecx
        movl $0x5a5a5a5a, %eax
        movl %esi, %edx
        wrmsr                             /* a pattern */
3:      cmpl gp_count, %ebx
        jne 4f
        incl writes
4:      incl msrs
        incl %esi
        cmpl 40(%esp), %esi
        jne 1b
        popal
        ret
        .macro MSR_RANGE first, end
        pushl $\end
        pushl $\first
        call msr_range
        addl $8, %esp
        .endm

/* cpuid_range(first, end): every leaf of [first, end], subleaves 0-0x100 */
cpuid_range:
        pushal
        movl 36(%esp), %esi
1:      xorl %edi, %edi
2:      movl %esi, %eax
        movl %edi, %ecx
        cpuid
        incl cpuids
        incl %edi
        cmpl $0x100, %edi
        jbe 2b
        incl %esi
        cmpl 40(%esp), %esi
        jbe 1b
        popal
        ret
        .macro CPUID_RANGE first, last
        pushl $\last
        pushl $\first
        call cpuid_range
        addl $8, %esp
        .endm

        .macro PRINTDEC val
        pushl \val
        call print_dec
        addl $4, %esp
        .endm

main:
        SET_GATE 13, gp_handler
        xorl %eax, %eax
        cpuid
        movl %eax, leaf0
        movl %ebx, leaf0 + 4
        /* the TSC reads, 0xc0001fff faults both ways */
        movl gp_count, %ebx
        movl $0x10, %ecx
        rdmsr
        EXPECT gp_count, %ebx, 1
        movl $0xc0001fff, %ecx
        rdmsr
        movl $0xc0001fff, %ecx
        xorl %eax, %eax
        xorl %edx, %edx
        wrmsr
        addl $2, %ebx
        EXPECT gp_count, %ebx, 2
        movl $0, gp_count

        MSR_RANGE 0x0, 0x2000
        MSR_RANGE 0x40000000, 0x40000100
        MSR_RANGE 0xc0000000, 0xc0002000
        PRINT "hostile-msr: "
        PRINTDEC msrs
        PRINT " MSRs: "
        PRINTDEC reads
        PRINT " read, "
        PRINTDEC writes
        PRINT " written, "
        PRINTDEC gp_count
        PRINT " #GP\n"

        CPUID_RANGE 0x0, 0x100
        CPUID_RANGE 0x40000000, 0x40000100
        CPUID_RANGE 0x80000000, 0x80000100
        PRINT "hostile-msr: "
        PRINTDEC cpuids
        PRINT " CPUID leaf/subleaf pairs\n"
        xorl %eax, %eax
        cpuid
        EXPECT %eax, leaf0, 3
        EXPECT %ebx, leaf0 + 4, 3
        movw $COM1_SCR, %dx
        movb $0xa5, %al
        outb %al, %dx
        xorl %eax, %eax
        inb %dx, %al
        EXPECT %eax, $0xa5, 4
        ret

        .data
gp_count: .long 0
msrs:     .long 0
reads:    .long 0
writes:   .long 0
cpuids:   .long 0
leaf0:    .long 0, 0
