// arm64 micro-guest (raw image at the start of RAM, entered with the MMU
// off, x0 = FDT): PSCI as qvm's guests see it (KVM's in-kernel PSCI plus
// qvm's handling of the SYSTEM_OFF/RESET exits).
//   VERSION (>= 1.0), FEATURES (CPU_ON supported, an unknown id refused),
//   AFFINITY_INFO of vCPU 1 (OFF before it starts), CPU_ON of a missing
//   MPIDR (INVALID_PARAMETERS), CPU_ON of vCPU 1 at an entry that stores its
//   context id in RAM, AFFINITY_INFO until ON, the flag, the secondary's
//   CPU_OFF, AFFINITY_INFO until OFF, CPU_ON again at a spin loop, a second
//   CPU_ON (ALREADY_ON), then "MG-PSCI-OK" and, with vCPU 1 still spinning,
//   SYSTEM_OFF (qvm exits 0) -- or SYSTEM_RESET when the byte at
//   0x80100000 is 'r' (a `data load` of the reset-mode file): qvm resets
//   the VM in place and the test runs again.
// A failed check prints "MG-PSCI-FAIL <step>" and parks (the lane's timeout
// and the missing OK line report it).
        .include "common.inc"
        .text
        .global _start
_start:
        pl011   x19       // PL011 at 0x1c090000
        adr     x0, m_start
        bl      puts

        // 1: VERSION >= 1.0 (FEATURES needs 1.0).
        mov     x28, #1
        psci    PSCI_VERSION
        mov     x20, x0
        adr     x0, m_ver
        bl      puts
        mov     x0, x20
        bl      puthex
        lsr     x1, x20, #16
        cbz     x1, fail
        tbnz    w20, #31, fail

        // 2: FEATURES(CPU_ON) >= 0; FEATURES(unknown id) = NOT_SUPPORTED.
        mov     x28, #2
        ldr     x0, =PSCI_FEATURES
        ldr     x1, =PSCI_CPU_ON
        hvc     #0
        tbnz    w0, #31, fail
        ldr     x0, =PSCI_FEATURES
        ldr     x1, =0x840000ff
        hvc     #0
        cmn     w0, #1
        b.ne    fail

        // 3: AFFINITY_INFO(vCPU 1) = OFF before any CPU_ON.
        mov     x28, #3
        mov     x1, #1
        bl      affinity
        cmp     x0, #1
        b.ne    fail

        // 4: CPU_ON of an MPIDR no vCPU has = INVALID_PARAMETERS (-2).
        mov     x28, #4
        ldr     x0, =PSCI_CPU_ON
        mov     x1, #7
        adr     x2, secondary
        mov     x3, #0
        hvc     #0
        cmn     x0, #2
        b.ne    fail

        // 5: CPU_ON(vCPU 1, secondary, context id) = SUCCESS.
        mov     x28, #5
        adr     x21, flag
        str     wzr, [x21]
        dsb     sy
        ldr     x0, =PSCI_CPU_ON
        mov     x1, #1
        adr     x2, secondary
        ldr     x3, =0x5eedc0de
        hvc     #0
        cbnz    x0, fail

        // 6: the secondary ran: its flag holds the context id.
        mov     x28, #6
        ldr     x22, =2000000
1:      ldr     w0, [x21]
        ldr     w1, =0x5eedc0de
        cmp     w0, w1
        b.eq    2f
        subs    x22, x22, #1
        b.ne    1b
        b       fail

        // 7: after its CPU_OFF, AFFINITY_INFO reaches OFF.
2:      mov     x28, #7
        ldr     x22, =200000
3:      mov     x1, #1
        bl      affinity
        cmp     x0, #1
        b.eq    4f
        subs    x22, x22, #1
        b.ne    3b
        b       fail

        // 8: CPU_ON again, at a spin loop; AFFINITY_INFO reaches ON and the
        // spinner's flag appears.
4:      mov     x28, #8
        adr     x23, flag2
        str     wzr, [x23]
        dsb     sy
        ldr     x0, =PSCI_CPU_ON
        mov     x1, #1
        adr     x2, spinner
        ldr     x3, =0x0badcafe
        hvc     #0
        cbnz    x0, fail
        ldr     x22, =2000000
5:      ldr     w0, [x23]
        ldr     w1, =0x0badcafe
        cmp     w0, w1
        b.eq    6f
        subs    x22, x22, #1
        b.ne    5b
        b       fail
6:      mov     x1, #1
        bl      affinity
        cbnz    x0, fail

        // 9: CPU_ON of a running vCPU = ALREADY_ON (-4).
        mov     x28, #9
        ldr     x0, =PSCI_CPU_ON
        mov     x1, #1
        adr     x2, spinner
        mov     x3, #0
        hvc     #0
        cmn     x0, #4
        b.ne    fail

        adr     x0, m_ok
        bl      puts
        // Let the UART drain, then power off (or reset) with vCPU 1 spinning.
        ldr     x1, =0x80100000
        ldrb    w1, [x1]
        cmp     w1, #'r'
        b.eq    7f
        psci    PSCI_SYSTEM_OFF
        mov     x28, #10                    // SYSTEM_OFF returned
        b       fail
7:      psci    PSCI_SYSTEM_RESET
        mov     x28, #11                    // SYSTEM_RESET returned
        b       fail

// AFFINITY_INFO(x1, level 0) -> x0. Clobbers x0-x3.
affinity:
        ldr     x0, =PSCI_AFFINITY_INFO
        mov     x2, #0
        hvc     #0
        ret

// vCPU 1, first start: store the context id (x0), then CPU_OFF.
secondary:
        adr     x1, flag
        str     w0, [x1]
        dsb     sy
        psci    PSCI_CPU_OFF
        adr     x1, flag                    // CPU_OFF returned: spoil the flag
        mov     w0, #0xdead
        str     w0, [x1]
        b       .

// vCPU 1, second start: store the context id, then spin (never exits).
spinner:
        adr     x1, flag2
        str     w0, [x1]
        dsb     sy
1:      add     x2, x2, #1
        b       1b

fail:   adr     x0, m_fail
        bl      puts
        add     w3, w28, #'0'
        cmp     w28, #10
        b.lo    1f
        mov     w3, #'1'
        str     w3, [x19]
        sub     w3, w28, #10
        add     w3, w3, #'0'
1:      str     w3, [x19]
        mov     w3, #'\n'
        str     w3, [x19]
        b       .

// puts(x0): NUL-terminated string to the UART. Clobbers x0, w3.
        puts_fn x0, x19

// puthex(x0): 8 hex digits and a newline. Clobbers x0-x4.
        puthex_fn 32, 1

        .ltorg
        .balign 8
flag:   .word   0
        .balign 64
flag2:  .word   0
m_start: .asciz "MG-PSCI-START\n"
m_ver:  .asciz  "MG-PSCI-VERSION "
m_ok:   .asciz  "MG-PSCI-OK\n"
m_fail: .asciz  "MG-PSCI-FAIL "
