// arm64 micro-guest (raw image at the start of RAM, MMU off): the generic
// timer's virtual counter as the guest sees it.
//   MG-TIMER-START <CNTVCT at entry, hex>
//   MG-TIMER-FREQ <CNTFRQ, hex>
//   MG-TIMER-T <CNTVCT, hex>        8 times, every half second of guest time
//   MG-TIMER-END <CNTVCT, hex>
// then PSCI SYSTEM_OFF. The lane checks that the counter starts near zero
// (qvm's default counter offset), and, pausing qvm between two ticks through
// /dev/qvm, that the paused time does not count. A counter going backwards
// prints "MG-TIMER-FAIL" and parks.
        .include "common.inc"
        .text
        .global _start
_start:
        pl011   x19       // PL011 at 0x1c090000
        isb
        mrs     x20, cntvct_el0
        mrs     x21, cntfrq_el0
        adr     x0, m_start
        bl      puts
        mov     x0, x20
        bl      puthex
        adr     x0, m_freq
        bl      puts
        mov     x0, x21
        bl      puthex
        cbz     x21, fail
        lsr     x25, x21, #1                // half a second of ticks
        mov     x22, x20
        mov     x24, #8
1:      add     x26, x22, x25
2:      isb
        mrs     x0, cntvct_el0
        cmp     x0, x22
        b.lo    fail                        // went backwards
        cmp     x0, x26
        b.lo    2b
        mov     x22, x0
        adr     x0, m_tick
        bl      puts
        mov     x0, x22
        bl      puthex
        subs    x24, x24, #1
        b.ne    1b
        isb
        mrs     x22, cntvct_el0
        adr     x0, m_end
        bl      puts
        mov     x0, x22
        bl      puthex
        psci    PSCI_SYSTEM_OFF
fail:   adr     x0, m_fail
        bl      puts
        b       .

// puts(x0): NUL-terminated string to the UART. Clobbers x0, w3.
        puts_fn x0, x19

// puthex(x0): 16 hex digits and a newline. Clobbers x0-x4.
        puthex_fn 64, 1

        .ltorg
m_start: .asciz "MG-TIMER-START "
m_freq: .asciz  "MG-TIMER-FREQ "
m_tick: .asciz  "MG-TIMER-T "
m_end:  .asciz  "MG-TIMER-END "
m_fail: .asciz  "MG-TIMER-FAIL\n"
