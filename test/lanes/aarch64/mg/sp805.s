// arm64 micro-guest for `vdev wdt-sp805` (raw image, MMU off, entered at its
// first byte; config: pl011, gic version 3 in the kernel, wdt-sp805 at
// 0x1c0f0000 with `frequency 1000000`, intr gic:32). It checks the IDs and
// the lock, programs 1 s periods (WdogLoad 999999) with INTEN|RESEN,
// checks the count goes down and RIS is clear (unless the counter says the
// vCPU was held off for half a period: then it may have wrapped), waits for
// WdogRIS, checks that SPI 32
// (configured level-sensitive in the distributor, as a guest OS does from
// the FDT's trigger type) is
// pending in the GIC distributor (GICD_ISPENDR1 bit 0) and WdogMIS, pings
// (IntClr: RIS and the GIC's pending bit drop), prints MG-SP805-WAIT and
// stops pinging: the watchdog must end qvm with exit code 4 within 5 s
// (it bites 2 s after the last ping; long periods keep a descheduled vCPU
// from missing a ping).
// Otherwise it prints MG-FAIL <n> and powers off (PSCI SYSTEM_OFF: exit 0).
        .include "common.inc"
        .text
        .global _start
_start:
        pl011   x1        // PL011
        movz    x9, #0x1c0f, lsl #16        // SP805
        movz    x10, #0x2f00, lsl #16       // GICv3 distributor
        mrs     x20, cntfrq_el0             // counter ticks per second
        str     wzr, [x10, #0xc08]          // GICD_ICFGR2: INTIDs 32-47 level
        mov     w3, #-1                     //   (KVM's SPIs start edge-triggered)
        str     w3, [x10, #0x284]           // GICD_ICPENDR1: nothing pending
        adr     x2, msg_start
        bl      puts

        mov     x19, #1                     // check number (for MG-FAIL)
        ldr     w3, [x9, #0xfe0]            // PeriphID0..2: 0x05 0x18 0x14
        cmp     w3, #0x05
        b.ne    fail
        ldr     w3, [x9, #0xfe4]
        cmp     w3, #0x18
        b.ne    fail
        ldr     w3, [x9, #0xfe8]
        cmp     w3, #0x14
        b.ne    fail
        ldr     w3, [x9, #0xff0]            // PCellID0
        cmp     w3, #0x0d
        b.ne    fail

        mov     x19, #2                     // lock: writes ignored
        str     wzr, [x9, #0xc00]
        ldr     w3, [x9, #0xc00]
        cmp     w3, #1
        b.ne    fail
        mov     w3, #0x1234
        str     w3, [x9]
        ldr     w4, [x9]
        cmn     w4, #1                      // still 0xffffffff
        b.ne    fail
        ldr     w11, =0x1acce551
        str     w11, [x9, #0xc00]           // unlock
        ldr     w3, [x9, #0xc00]
        cbnz    w3, fail

        mov     x19, #3                     // program: 1 s per period
        mrs     x12, cntvct_el0             // before the load
        ldr     w3, =999999
        str     w3, [x9]                    // WdogLoad
        str     w3, [x9, #0x0c]             // WdogIntClr
        mov     w3, #3
        str     w3, [x9, #0x08]             // INTEN | RESEN
        str     wzr, [x9, #0xc00]           // lock
        ldr     w5, [x9, #0x04]             // WdogValue
        mov     x0, #1                      // wait ~2 ms
        bl      delay_ms2
        ldr     w6, [x9, #0x04]
        ldr     w7, [x9, #0x10]             // WdogRIS
        mrs     x13, cntvct_el0
        sub     x13, x13, x12               // load .. these reads, at most
        cmp     x13, x20, lsr #1
        b.hs    1f                          // held off half a period or
                                            // more: the count may have
                                            // wrapped, RIS may be set
        cmp     w6, w5
        b.hs    fail                        // the count must go down
        cbnz    w7, fail                    // no interrupt yet
1:

        mov     x19, #4                     // the first timeout
        bl      wait_ris
        ldr     w3, [x10, #0x204]           // GICD_ISPENDR1: INTID 32 = bit 0
        tbz     w3, #0, fail
        mov     x19, #5
        ldr     w3, [x9, #0x14]             // WdogMIS
        cmp     w3, #1
        b.ne    fail
        adr     x2, msg_irq
        bl      puts

        mov     x19, #6                     // ping
        str     w11, [x9, #0xc00]
        str     w11, [x9, #0x0c]
        str     wzr, [x9, #0xc00]
        ldr     w3, [x9, #0x10]
        cbnz    w3, fail                    // RIS cleared
        mov     x19, #7
        ldr     w3, [x10, #0x204]
        tbnz    w3, #0, fail                // the line dropped
        mov     x19, #8                     // and it comes back
        bl      wait_ris
        ldr     w3, [x10, #0x204]
        tbz     w3, #0, fail
                                            // ping again, then stop pinging
        str     w11, [x9, #0xc00]
        str     w11, [x9, #0x0c]
        str     wzr, [x9, #0xc00]
        adr     x2, msg_wait
        bl      puts
        mov     x19, #9
        mov     x0, #2500                   // 5 s: qvm must be gone by then
        bl      delay_ms2
        b       fail

// wait_ris: polls WdogRIS for up to 3 s (3 periods); fails on timeout.
wait_ris:
        mrs     x21, cntvct_el0
        add     x21, x21, x20
        add     x21, x21, x20, lsl #1       // deadline
1:      ldr     w3, [x9, #0x10]
        cbnz    w3, 2f
        mrs     x22, cntvct_el0
        cmp     x22, x21
        b.lo    1b
        b       fail
2:      ret

// delay_ms2: spins x0 * 2 ms on the virtual counter (no exits).
delay_ms2:
        mov     x23, #500
        udiv    x23, x20, x23               // ticks per 2 ms
        mul     x23, x23, x0
        mrs     x21, cntvct_el0
        add     x21, x21, x23
1:      isb
        mrs     x22, cntvct_el0
        cmp     x22, x21
        b.lo    1b
        ret

// puts: prints the NUL-terminated string at x2 (clobbers x2, w3).
        puts_fn x2, x1

fail:   adr     x2, msg_fail
        bl      puts
        add     w3, w19, #'0'
        str     w3, [x1]
        mov     w3, #'\n'
        str     w3, [x1]
        psci    PSCI_SYSTEM_OFF  // exit 0 = failure here
        b       .

        .ltorg
msg_start: .asciz "MG-SP805-START\n"
msg_irq:   .asciz "MG-SP805-IRQ\n"
msg_wait:  .asciz "MG-SP805-WAIT\n"
msg_fail:  .asciz "MG-FAIL "
