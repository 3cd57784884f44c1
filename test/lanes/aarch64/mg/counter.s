// arm64 micro-guest (raw image at the start of RAM, MMU off, 2 vCPUs): is
// the guest's virtual counter monotonic, on each vCPU and across them, while
// the vCPUs keep leaving the guest? Each vCPU, ITER times: reads the PL011's
// FR (an MMIO exit to qvm: KVM puts and reloads the vCPU, with its timer
// offset), reads the other vCPU's last published count, then its own
// CNTVCT_EL0 (after DSB+ISB, so the read follows the load), and checks
//   own >= own previous         (back-self)
//   own >= other's published    (back-cross: a count the other vCPU read
//                                before publishing it)
// then publishes its count (the store depends on the value read). vCPU 0
// prints
//   MG-COUNTER iter=<hex> back-self=<hex> back-cross=<hex>
//   MG-COUNTER-FIRST <cpu> <previous/published> <read>   (first violation)
// and powers off (PSCI SYSTEM_OFF).
        .equ    ITER, 20000
        .include "common.inc"
        .text
        .global _start
_start:
        pl011   x19       // PL011 at 0x1c090000
        ldr     x0, =PSCI_CPU_ON             // CPU_ON(1, worker, 1)
        mov     x1, #1
        adr     x2, worker
        mov     x3, #1
        hvc     #0
        cbnz    x0, fail
        mov     x0, #0
        bl      worker_body
        // wait for vCPU 1, unbounded: a bound in spins is a race between
        // the two vCPUs' speeds (vCPU 0 spinning on a free core outran
        // vCPU 1's 20000 exits once, on a quiet host); a vCPU 1 that never
        // finishes is a hang the runner's kill timeout reports
        adr     x1, done1
1:      ldr     w0, [x1]
        cbz     w0, 1b
        dmb     ish
        adr     x0, m_res
        bl      puts
        ldr     x0, =ITER
        bl      puthex
        adr     x0, m_self
        bl      puts
        adr     x1, nself
        ldr     w0, [x1]
        ldr     w2, [x1, #4]
        add     x0, x0, x2
        bl      puthex
        adr     x0, m_cross
        bl      puts
        adr     x1, ncross
        ldr     w0, [x1]
        ldr     w2, [x1, #4]
        add     x0, x0, x2
        bl      puthex
        mov     w3, #'\n'
        str     w3, [x19]
        adr     x1, first
        ldr     x0, [x1]
        cbz     x0, 3f
        adr     x0, m_first
        bl      puts
        adr     x1, first
        ldr     x0, [x1, #8]
        bl      puthex
        mov     w3, #' '
        str     w3, [x19]
        adr     x1, first
        ldr     x0, [x1, #16]
        bl      puthex
        mov     w3, #' '
        str     w3, [x19]
        adr     x1, first
        ldr     x0, [x1, #24]
        bl      puthex
        mov     w3, #'\n'
        str     w3, [x19]
3:      psci    PSCI_SYSTEM_OFF
fail:   adr     x0, m_fail
        bl      puts
        b       .

// vCPU 1 enters here with x0 = 1.
worker:
        bl      worker_body
        adr     x1, done1
        mov     w0, #1
        str     w0, [x1]
        dsb     sy
        psci    PSCI_CPU_OFF
        b       .

// worker_body(x0 = vCPU 0/1). Uses x20-x28 (x24: its return address).
worker_body:
        mov     x24, x30
        mov     x20, x0
        adr     x21, pub
        add     x25, x21, x20, lsl #6       // my published count
        eor     x1, x20, #1
        add     x26, x21, x1, lsl #6        // the other's
        adr     x27, nself
        add     x27, x27, x20, lsl #2
        adr     x28, ncross
        add     x28, x28, x20, lsl #2
        ldr     x22, =ITER
        mov     x23, #0                     // previous
1:      ldr     w0, [x19, #0x18]            // FR: exit to qvm
        ldr     x1, [x26]                   // other's published count
        dsb     ish
        isb
        mrs     x2, cntvct_el0
        cmp     x2, x23
        b.hs    2f
        ldr     w3, [x27]                   // back-self
        add     w3, w3, #1
        str     w3, [x27]
        mov     x4, x23
        bl      note
2:      cmp     x2, x1
        b.hs    3f
        ldr     w3, [x28]                   // back-cross
        add     w3, w3, #1
        str     w3, [x28]
        mov     x4, x1
        bl      note
3:      mov     x23, x2
        str     x2, [x25]
        subs    x22, x22, #1
        b.ne    1b
        mov     x30, x24
        ret

// note: records the first violation (x20 cpu, x4 expected minimum, x2
// read). Clobbers x5, x6.
note:   adr     x5, first
        ldr     x6, [x5]
        cbnz    x6, 1f
        mov     x6, #1
        str     x6, [x5]
        str     x20, [x5, #8]
        str     x4, [x5, #16]
        str     x2, [x5, #24]
1:      ret

// puts(x0): NUL-terminated string to the UART. Clobbers x0, w3.
        puts_fn x0, x19

// puthex(x0): 16 hex digits. Clobbers x0-x4.
        puthex_fn 64, 0

        .ltorg
m_res:  .asciz  "MG-COUNTER iter="
m_self: .asciz  " back-self="
m_cross: .asciz " back-cross="
m_first: .asciz "MG-COUNTER-FIRST "
m_fail: .asciz  "MG-COUNTER-FAIL\n"
        .balign 64
pub:    .quad   0
        .balign 64
        .quad   0
        .balign 64
nself:  .word   0, 0
ncross: .word   0, 0
done1:  .word   0
        .balign 8
first:  .quad   0, 0, 0, 0
