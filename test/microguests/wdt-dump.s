/* wdt-dump: `vdev wdt-ib700 action dump,terminate` (QNX's `dump,` action
 * prefix through vdev ABI 1.7's qvm_guest_dump). The guest writes a marker
 * into RAM at 0x200000 (decoded at run time: the image itself never holds
 * it), arms the watchdog with the board's 0 s timeout and then reads the
 * watchdog's port forever: each read takes the device's instance lock, the
 * lock the expiring timer callback holds. A dump written inside that
 * callback would wait for this vCPU to park while the vCPU waits for the
 * lock; qvm writes it from its main loop once the callback returned, then
 * terminates (the follow-up: exit code 4). The table checks the exit code
 * and the log; run.sh checks the dump itself: one ELF core named
 * mg-wdt-dump-YYYYMMDD-hhmmss.gcore in the config's directory (`dump .`)
 * with the vCPU's registers (NT_PRSTATUS) and the marker in its memory.
 * Row wdt-dump-loop runs it with `action dump,reset`: one dump, then the
 * dumps of the expiries after each reset are skipped (10 s apart at most). */
        .include "common.inc"
        GUEST_NAME "wdt-dump"

        .equ IB700_STOP, 0x441
        .equ IB700_START, 0x443
        .equ MARKER_AT, 0x200000

main:
        movl $encoded, %esi
        movl $MARKER_AT, %edi
        movl $(encoded_end - encoded), %ecx
1:      movb (%esi), %al
        decb %al
        movb %al, (%edi)
        incl %esi
        incl %edi
        decl %ecx
        jnz 1b
        /* 1. stop, then read: the watchdog's ports read 0xff */
        movw $IB700_STOP, %dx
        outb %al, %dx
        xorl %eax, %eax
        inb %dx, %al
        EXPECT %eax, $0xff, 1
        PRINT "wdt-dump: marker written; arming the watchdog with 0 s\n"
        /* 2. 15: the board's 0 s timeout, expired at once */
        movw $IB700_START, %dx
        movb $15, %al
        outb %al, %dx
2:      inb %dx, %al
        jmp 2b

/* "qvm-wdt-dump-marker-in-guest-ram", each byte plus one */
encoded:
        .byte 0x72, 0x77, 0x6e, 0x2e, 0x78, 0x65, 0x75, 0x2e, 0x65, 0x76, 0x6e
        .byte 0x71, 0x2e, 0x6e, 0x62, 0x73, 0x6c, 0x66, 0x73, 0x2e, 0x6a, 0x6f
        .byte 0x2e, 0x68, 0x76, 0x66, 0x74, 0x75, 0x2e, 0x73, 0x62, 0x6e
encoded_end:
