// arm64 micro-guest (raw image, entered at its first byte with the MMU
// off): prints "MG-UART-OK" through the PL011 with single stores (MMIO
// aborts with a syndrome), reads FR with a load pair (an abort without a
// syndrome: qvm decodes it with Capstone) and checks TXFE, then powers off
// with PSCI SYSTEM_OFF. On a failed check it prints "MG-FAIL" and resets.
        .include "common.inc"
        .text
        .global _start
_start:
        pl011   x1        // PL011 at 0x1c090000
        adr     x2, msg
1:      ldrb    w3, [x2], #1
        cbz     w3, 2f
        str     w3, [x1]                    // DR
        b       1b
2:      ldp     w4, w5, [x1, #0x18]         // FR, (0x1c) — no syndrome
        tbz     w4, #7, fail                // TXFE must be set
        ldr     w6, [x1, #0xfe0]            // PeriphID0 = 0x11
        cmp     w6, #0x11
        b.ne    fail
        mov     x7, x1
        ldr     w8, [x7, #0x18]!            // writeback form with syndrome
        sub     x7, x7, #0x18
        cmp     x7, x1
        b.ne    fail
        adr     x2, ok
3:      ldrb    w3, [x2], #1
        cbz     w3, 4f
        str     w3, [x1]
        b       3b
4:      psci    PSCI_SYSTEM_OFF
        b       .
fail:   adr     x2, bad
5:      ldrb    w3, [x2], #1
        cbz     w3, 6f
        str     w3, [x1]
        b       5b
6:      psci    PSCI_SYSTEM_RESET
        b       .
msg:    .asciz  "MG-UART-START\n"
ok:     .asciz  "MG-UART-OK\n"
bad:    .asciz  "MG-FAIL\n"
