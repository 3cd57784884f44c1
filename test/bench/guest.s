/*
 * guest.s — the bench micro-guest. One source, assembled once per variant
 * (as --defsym), linked once (guest.ld) into an ELF that is BOTH:
 *   - a Multiboot 1 kernel for QEMU's `-kernel` (header in the first 8 KiB;
 *     QEMU loads the ELF's segment at 0x100000 and enters _start), and
 *   - after `objcopy -O binary`, the raw image qvm loads with
 *     `load 0x100000,FILE` and enters at its first byte.
 * Both enter in 32-bit flat protected mode, paging off, IF=0: the same
 * instructions run under every VMM. The first instruction jumps over the
 * Multiboot header. No IDT, no console set-up: each variant is as short as
 * the measurement allows.
 *
 * Variants (--defsym MODE=n):
 *   1 launch  one byte 'Q' to COM1's THR (0x3f8), then debug-exit (0xf4) 0
 *   2 idle    one byte 'Q' to COM1's THR, then CLI+HLT forever (the VMM
 *             process idles; the bench reads its smaps and kills it)
 *   3 pio     one byte 'Q' to COM1's THR, COUNT byte writes to PORT (default 0x3ff, the 16550's scratch
 *             register), then debug-exit 0
 *   4 mmio    one byte 'Q' to COM1's THR, COUNT byte writes to ADDR (default 0xd0000007: SCR of a 16550
 *             mapped at 0xd0000000), then debug-exit 0
 * Under qvm and QEMU (both isa-debug-exit semantics) the debug-exit write
 * of 0 ends the process with 1; under the raw KVM loop with 0.
 */
        .code32
        .ifndef MODE
        .set MODE, 1
        .endif
        .ifndef COUNT
        .set COUNT, 100000
        .endif
        .ifndef PORT
        .set PORT, 0x3ff
        .endif
        .ifndef ADDR
        .set ADDR, 0xd0000007
        .endif
        .set COM1_THR, 0x3f8
        .set DEBUG_EXIT, 0xf4

        .set MB_MAGIC, 0x1badb002
        .set MB_FLAGS, 0                /* ELF layout; no info needed */

        .section .text.entry, "ax"
        .globl _start
_start:
        jmp 1f
        .p2align 2
mb_header:
        .long MB_MAGIC
        .long MB_FLAGS
        .long -(MB_MAGIC + MB_FLAGS)
1:      cli
        cld
        lgdtl gdt_desc
        ljmpl $0x08, $2f
2:      movw $0x10, %ax
        movw %ax, %ds
        movw %ax, %es
        movw %ax, %ss
        movl $stack_top, %esp

        /* Every variant: the first byte on the serial port (launch latency;
         * for pio/mmio the start of the timed loop, which excludes process
         * start and firmware from the exit cost). */
        movb $'Q', %al
        movw $COM1_THR, %dx
        outb %al, %dx

        .if MODE == 2
3:      cli
        hlt
        jmp 3b
        .endif

        .if MODE == 3
        movl $COUNT, %ecx
        movw $PORT, %dx
        movb $0x5a, %al
3:      outb %al, %dx
        decl %ecx
        jnz 3b
        .endif

        .if MODE == 4
        movl $COUNT, %ecx
        movl $ADDR, %edi
3:      movb $0x5a, (%edi)
        decl %ecx
        jnz 3b
        .endif

        xorl %eax, %eax
        outb %al, $DEBUG_EXIT
4:      pause                           /* the VMM is gone; never HLT */
        jmp 4b

        .section .rodata
        .p2align 3
gdt:    .quad 0
        .quad 0x00cf9a000000ffff        /* 0x08: code, flat 4 GiB */
        .quad 0x00cf92000000ffff        /* 0x10: data, flat 4 GiB */
gdt_end:
gdt_desc:
        .word gdt_end - gdt - 1
        .long gdt

        .bss
        .p2align 4
        .space 256
stack_top:
