// arm64 micro-guest in the Linux `Image` format with text_offset = 2 MiB,
// as NetBSD's `mkubootimage -f arm64 -a 0x200000` writes every evbarm64
// Image. The boot protocol puts the Image text_offset bytes above a
// 2 MiB-aligned base in RAM and enters its first byte with x0 = the device
// tree's address and x1..x3 = 0. Checks each of these (RAM starts at
// 0x80000000, so the Image must run at 0x80200000), prints
// "MG-IMAGE-OK text_offset=2M", then powers off; on a failed check it
// prints "MG-FAIL" and the check's number, and resets.
        .include "common.inc"
        .text
        .global _start
_start:
base:   b       entry                       // code0 (base: a local label, so
                                            // `adr` resolves without a relocation)
        .word   0                           // code1
        .quad   0x200000                    // text_offset
        .quad   image_end - _start          // image_size
        .quad   0x2                         // flags: LE, 4 KiB pages
        .quad   0, 0, 0                     // res2..res4
        .ascii  "ARM\x64"                   // magic
        .word   0                           // res5
entry:  mov     x20, x0                     // the FDT
        mov     x21, x1
        orr     x21, x21, x2
        orr     x21, x21, x3
        pl011   x19
        adr     x2, at
        bl      puts
        adr     x0, base                    // where we run
        bl      puthex
        adr     x2, fdt
        bl      puts
        mov     x0, x20
        bl      puthex
        mov     x22, #1
        adr     x5, base
        movz    x6, #0x8020, lsl #16
        cmp     x5, x6
        b.ne    fail
        mov     x22, #2
        cbnz    x21, fail                   // x1..x3 must be 0
        mov     x22, #3
        tst     x20, #7                     // the FDT 8-byte aligned ...
        b.ne    fail
        movz    x6, #0x8000, lsl #16
        cmp     x20, x6                     // ... and in RAM (16 MiB)
        b.lo    fail
        movz    x6, #0x8100, lsl #16
        cmp     x20, x6
        b.hs    fail
        mov     x22, #4
        ldr     w7, [x20]                   // FDT magic, big-endian
        rev     w7, w7
        movz    w6, #0xfeed
        movk    w6, #0xd00d, lsl #16
        cmp     w7, w6
        b.ne    fail
        adr     x2, ok
        bl      puts
        psci    PSCI_SYSTEM_OFF
        b       .
fail:   adr     x2, bad
        bl      puts
        mov     x0, x22
        bl      puthex
        psci    PSCI_SYSTEM_RESET
        b       .
        puts_fn x2, x19
        puthex_fn 64, 1
at:     .asciz  "MG-IMAGE at "
fdt:    .asciz  "MG-IMAGE fdt "
ok:     .asciz  "MG-IMAGE-OK text_offset=2M\n"
bad:    .asciz  "MG-FAIL check "
        .balign 8
image_end:
