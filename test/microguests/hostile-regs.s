/*
 * hostile-regs: a register flood on every legacy device of the x86 PC
 * machine in configs/hostile-regs.qvmconf, 100,000 accesses each (a write
 * of a pattern, then a read, at widths 1, 2 and 4 where the device allows
 * them, walking the device's ports or MMIO registers, unaligned ones too;
 * flood.inc): 8259 pair and ELCR, 8254 PIT and port 0x61, RTC/CMOS, 8042,
 * ACPI PM block, I/O APIC, HPET, a second 16550 (COM2; COM1 is the
 * console), fw-cfg's selector and data ports; then fw-cfg DMA descriptors
 * with hostile control words, lengths and addresses (outside RAM, across
 * its end, wrapping past 2^64; a descriptor itself outside RAM), each
 * answered with ERROR (check 5), and a valid one still working (check 6).
 * The PCI functions are hostile-pci's. Patterns are masked only where a
 * value would end the guest rather than test qvm: no SLP_EN or RESET_REG
 * 0x01 to the ACPI block, no 8042 command >= 0x80 (0xFE, 0xD1 reset the
 * VM), I/O APIC redirection entries stay masked (no NMI/INIT message to
 * this vCPU), no HPET FSB delivery. Interrupts stay off throughout.
 * Every count is divided by N with "mg.flood=N" on the command line
 * (flood.inc). Afterwards the devices still work (checks 1-3: COM1 scratch, I/O APIC
 * version, PM timer). Run by the table and by test/hostile/run.sh.
 */
        .include "common.inc"
        GUEST_NAME "hostile-regs"
        .include "flood.inc"

        .set RAM_END, 0x01000000          /* config: ram 16M */
        .set FWCFG_SEL, 0x510
        .set FWCFG_DMA_HI, 0x514
        .set FWCFG_DMA_LO, 0x518

main:
        call flood_scale_read
        movl $fixed, %esi
        call flood_groups
        call fwcfg_dma
        jmp still_work

/* fw-cfg DMA with hostile descriptors. dma_start(descriptor address) */
dma_start:
        pushl %eax
        pushl %edx
        xorl %eax, %eax
        movw $FWCFG_DMA_HI, %dx
        outl %eax, %dx
        movl 12(%esp), %eax
        bswapl %eax
        movw $FWCFG_DMA_LO, %dx
        outl %eax, %dx
        popl %edx
        popl %eax
        ret

/* dma_try(control, length, addr_lo, addr_hi): %eax = the control word
 * after the transfer, as the guest stored it (big-endian) */
dma_try:
        movl 4(%esp), %eax
        bswapl %eax
        movl %eax, dma_desc
        movl 8(%esp), %eax
        bswapl %eax
        movl %eax, dma_desc + 4
        movl 16(%esp), %eax
        bswapl %eax
        movl %eax, dma_desc + 8
        movl 12(%esp), %eax
        bswapl %eax
        movl %eax, dma_desc + 12
        pushl $dma_desc
        call dma_start
        addl $4, %esp
        movl dma_desc, %eax
        ret
        .macro DMA_ERROR ctl, len, lo, hi
        pushl \hi
        pushl \lo
        pushl \len
        pushl \ctl
        call dma_try
        addl $16, %esp
        EXPECT %eax, $0x01000000, 5       /* ERROR, big-endian */
        .endm

fwcfg_dma:
        /* SELECT file directory | READ: length absurd, destination
         * outside RAM, across its end, wrapping past 2^64 */
        DMA_ERROR $0x0019000a, $0xffffffff, $0x40000000, $0
        DMA_ERROR $0x0019000a, $0x1000, $(RAM_END-8), $0
        DMA_ERROR $0x0019000a, $0x20, $0xfffffff0, $0xffffffff
        DMA_ERROR $0x0019000a, $0xffffffff, $dma_buf, $0
        DMA_ERROR $0xffffffff, $0x10, $dma_buf, $0
        DMA_ERROR $0x00000010, $0x10, $dma_buf, $0       /* WRITE */
        /* descriptors outside RAM and across its end: ignored */
        pushl $0x40000000
        call dma_start
        pushl $RAM_END - 8
        call dma_start
        pushl $0xfffffff8
        call dma_start
        addl $12, %esp
        /* a valid one: SELECT 0 | READ 4 bytes = "QEMU" */
        pushl $0
        pushl $dma_buf
        pushl $4
        pushl $0x0000000a
        call dma_try
        addl $16, %esp
        EXPECT %eax, $0, 6
        movl dma_buf, %eax
        EXPECT %eax, $0x554d4551, 6
        PRINT "hostile-regs: fw-cfg DMA refused 6 hostile descriptors, then read \"QEMU\"\n"
        ret

        .section .rodata
n_pic:  .asciz "8259"
n_pit:  .asciz "timer8254"
n_rtc:  .asciz "mc146818"
n_kbd:  .asciz "pckeyboard"
n_pm:   .asciz "acpi-pm"
n_ioa:  .asciz "ioapic"
n_hpet: .asciz "hpet"
n_com2: .asciz "ser8250 (COM2)"
n_fw:   .asciz "fw-cfg"

        .data
        .balign 4
/* name, then regions (kind, base, length, iterations, widths, and, or),
 * then -1; a 0 name ends the list */
fixed:
        .long n_pic
        .long K_PORT, 0x20, 2, 16667, 1, -1, 0
        .long K_PORT, 0xa0, 2, 16667, 1, -1, 0
        .long K_PORT, 0x4d0, 2, 16666, 1, -1, 0
        .long -1
        .long n_pit
        .long K_PORT, 0x40, 4, 40000, 7, -1, 0
        .long K_PORT, 0x61, 1, 10000, 7, -1, 0
        .long -1
        .long n_rtc
        .long K_PORT, 0x70, 2, 50000, 7, -1, 0
        .long -1
        .long n_kbd                       /* no command >= 0x80 */
        .long K_PORT, 0x60, 1, 25000, 7, 0x7f7f7f7f, 0
        .long K_PORT, 0x64, 1, 25000, 7, 0x7f7f7f7f, 0
        .long -1
        .long n_pm                        /* no SLP_EN (bit 5 of a byte), no 0x01 */
        .long K_PORT, 0x600, 16, 50000, 7, 0xdededede, 0
        .long -1
        .long n_ioa                       /* redirection entries stay masked */
        .long K_MEM, 0xfec00000, 0x44, 50000, 4, -1, 0x01010101
        .long -1
        .long n_hpet                      /* no FSB delivery (bit 14) */
        .long K_MEM, 0xfed00000, 0x400, 50000, 7, 0xbfbfbfbf, 0
        .long -1
        .long n_com2
        .long K_PORT, 0x2f8, 8, 50000, 7, -1, 0
        .long -1
        .long n_fw                        /* selector and data; DMA below */
        .long K_PORT, FWCFG_SEL, 2, 50000, 7, -1, 0
        .long -1
        .long 0

        .bss
        .balign 16
dma_desc: .skip 16
dma_buf:  .skip 64
