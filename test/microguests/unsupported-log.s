/* unsupported-log: `unsupported log` (without it, unhandled accesses are
 * only logged at debug level: probes of absent hardware are normal). An
 * unassigned port read and MMIO write are logged by qvm and the guest goes
 * on: reads are all-ones. Then 4000 more unassigned accesses: qvm's log of
 * them must be rate-limited, so tests.tsv caps this test's whole log at
 * 64 KiB (4000 unlimited warning lines would be ~300 KiB). */
        .include "common.inc"
        GUEST_NAME "unsupported-log"
main:
        movw $UNASSIGNED_PORT, %dx
        xorl %eax, %eax
        inb %dx, %al
        EXPECT %eax, $0xff, 1
        movl $0x12345678, 0xe0000000
        movl 0xe0000000, %eax
        EXPECT %eax, $0xffffffff, 2
        movl $2000, %ecx
1:      inb %dx, %al
        movl $0, 0xe0000000
        decl %ecx
        jnz 1b
        PRINT "unsupported-log: 4000 unassigned accesses, still running\n"
        ret
