// arm64 micro-guest: the PL011 with its FIFOs disabled (LCR_H.FEN = 0, as
// NetBSD runs it), then enabled. For every byte it waits for TXFF clear
// (bounded), writes DR, and checks FR (TXFE set, BUSY clear) and that TXRIS
// is raised once the byte left; ICR must clear TXRIS and it must stay clear
// until the next byte. Prints MG-NOFIFO-LINE (FIFO off), MG-FIFO-LINE (FIFO
// on) and MG-UART-NOFIFO-OK, then PSCI SYSTEM_OFF (exit 0). A failed check
// prints MG-FAIL <n> and powers off.
        .include "common.inc"
        .text
        .global _start
_start:
        pl011   x1        // PL011
        mov     x19, #1
        str     wzr, [x1, #0x30]            // CR: disable while programming
        mov     w3, #0x60                   // LCR_H: 8 bits, FEN clear
        str     w3, [x1, #0x2c]
        mov     w3, #0x301                  // CR: UARTEN | TXE | RXE
        str     w3, [x1, #0x30]
        ldr     w3, [x1, #0x2c]
        cmp     w3, #0x60
        b.ne    fail
        mov     w3, #0x7ff
        str     w3, [x1, #0x44]             // ICR: everything
        ldr     w3, [x1, #0x3c]
        tbnz    w3, #5, fail                // no TXRIS before a byte left
        adr     x2, msg_nofifo
        bl      puts_checked

        mov     x19, #5                     // FIFO on, trigger 1/2
        mov     w3, #0x70                   // LCR_H: 8 bits, FEN
        str     w3, [x1, #0x2c]
        mov     w3, #0x12
        str     w3, [x1, #0x34]             // IFLS
        adr     x2, msg_fifo
        bl      puts_checked
        adr     x2, msg_ok
        bl      puts_checked
        psci    PSCI_SYSTEM_OFF
        b       .

// puts_checked: x2 = string; per byte: wait !TXFF (bounded), write, check.
puts_checked:
        ldrb    w3, [x2], #1
        cbz     w3, 3f
        movz    x4, #0x1, lsl #16           // 65536 polls at most
1:      ldr     w5, [x1, #0x18]             // FR
        tbz     w5, #5, 2f                  // TXFF clear: room
        subs    x4, x4, #1
        b.ne    1b
        mov     x19, #2
        b       fail
2:      str     w3, [x1]                    // DR
        ldr     w5, [x1, #0x18]
        mov     x19, #3
        tbz     w5, #7, fail                // TXFE
        tbnz    w5, #3, fail                // BUSY
        ldr     w5, [x1, #0x3c]             // RIS
        mov     x19, #4
        tbz     w5, #5, fail                // TXRIS after the byte left
        mov     w5, #0x20
        str     w5, [x1, #0x44]             // ICR: TX
        ldr     w5, [x1, #0x3c]
        tbnz    w5, #5, fail                // cleared
        b       puts_checked
3:      ret

fail:   adr     x2, msg_fail
4:      ldrb    w3, [x2], #1
        cbz     w3, 5f
        str     w3, [x1]
        b       4b
5:      add     w3, w19, #'0'
        str     w3, [x1]
        mov     w3, #'\n'
        str     w3, [x1]
        psci    PSCI_SYSTEM_OFF  // (the lane wants the OK line)
        b       .

msg_nofifo: .asciz "MG-NOFIFO-LINE\n"
msg_fifo:   .asciz "MG-FIFO-LINE\n"
msg_ok:     .asciz "MG-UART-NOFIFO-OK\n"
msg_fail:   .asciz "MG-FAIL "
