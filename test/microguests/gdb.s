/* gdb: the guest test/gdb/run.sh debugs through qvm's gdb remote stub
 * (`set gdb`, `set gdb-wait on`: nothing runs before gdb attaches). Its
 * verdict proves what the debugger did to it: gdb sets %eax to 0x1234 at
 * the breakpoint on gdb_spot (check 1) and writes 0x5a to gdb_flag
 * (check 2); without a debugger both checks fail. gdb_var is written once
 * (the hardware watchpoint's target), gdb_steps is a run of single-byte
 * instructions for stepi, gdb_spin a loop the debugger may send the vCPU
 * to (Ctrl-C). Not in tests.tsv: it needs the debugger. */
        .include "common.inc"
        GUEST_NAME "gdb"
main:
        PRINT "gdb: running under the debugger\n"
        xorl %eax, %eax
        call gdb_spot
        EXPECT %eax, $0x1234, 1
        movl $1, gdb_var
        .globl gdb_steps
gdb_steps:
        nop
        nop
        nop
        nop
        nop
        nop
        nop
        nop
        .globl gdb_after_steps
gdb_after_steps:
        EXPECT gdb_flag, $0x5a, 2
        PRINT "gdb: the debugger's register and memory writes arrived\n"
        ret

        .globl gdb_spot
gdb_spot:
        nop
        ret

        /* Reached only when a debugger sends the vCPU here (`c ADDR`):
         * a guest that runs until it is interrupted. */
        .globl gdb_spin
gdb_spin:
        pause
        jmp gdb_spin

        .data
        .balign 4
        .globl gdb_var
gdb_var:
        .long 0
        .globl gdb_flag
gdb_flag:
        .long 0
