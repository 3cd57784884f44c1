/*
 * hostile-pci: a register flood on every PCI function of the x86 PC
 * machine in configs/hostile-pci.qvmconf, 100,000 accesses each (flood.inc:
 * a pattern written and read back at widths 1, 2 and 4): the BAR 0 of
 * virtio-entropy, -blk, -net and -console (common configuration, ISR,
 * device configuration, notification area, MSI-X table and PBA) and of
 * shmem; then the configuration space of every function on bus 0 through
 * CF8/CFC (60,000 accesses) and ECAM at 0xe0000000 (40,000); then
 * pci-host's CF8-CFF ports themselves (random functions and registers).
 * Patterns are masked only where a value would end the guest rather than
 * test qvm: MSI-X entries stay masked (no NMI/INIT message to this vCPU),
 * no virtio queue is enabled (its rings would be this guest's code), shmem
 * addresses stay above 2 GiB, no bit 2 in a byte written at 0xCF8-0xCFB
 * (pci-host's reset control port 0xCF9). Interrupts stay off throughout.
 * Every count is divided by N with "mg.flood=N" on the command line
 * (flood.inc). Afterwards the devices still work (checks 1-3: COM1 scratch, I/O APIC
 * version, PM timer; 4: a configured function missing). Run by the table
 * and by test/hostile/run.sh.
 */
        .include "common.inc"
        GUEST_NAME "hostile-pci"
        .include "flood.inc"
        .include "virtio-pci.inc"

        .set ECAM, 0xe0000000

main:
        call flood_scale_read
        pushl $20000
        call flood_count
        addl $4, %esp
        movl %eax, config_rounds
        movl $pcidevs, %ebx
1:      cmpl $0, (%ebx)
        je 3f
        pushl (%ebx)
        call pci_find
        addl $4, %esp
        testl %eax, %eax
        jz 2f
        FAIL_MSG 4, "a configured PCI device is missing"
2:      pushl $0
        call bar_addr
        addl $4, %esp
        movl %eax, bar_base
        pushl 8(%ebx)
        call group_start
        addl $4, %esp
        movl 4(%ebx), %esi
        call flood_regions
        call group_end
        addl $12, %ebx
        jmp 1b
3:      call flood_config
        movl $late, %esi
        call flood_groups
        jmp still_work

/* flood_config: every function present on bus 0 (vendor != 0xffff):
 * 20,000 rounds of CF8 := its register, a pattern written and read at
 * CFC + (register & 3) (60,000 accesses), then 20,000 writes and reads
 * through its 4 KiB ECAM page (40,000); each function printed. */
flood_config:
        pushal
        xorl %ebx, %ebx                   /* devfn */
1:      movl %ebx, %eax
        shll $8, %eax
        orl $0x80000000, %eax
        movw $0xcf8, %dx
        outl %eax, %dx
        movw $0xcfc, %dx
        inl %dx, %eax
        cmpw $0xffff, %ax
        je 8f
        movl accesses, %edi
        PRINT "hostile-pci: PCI 00:"
        pushl %ebx
        call print_hex
        addl $4, %esp
        xorl %ecx, %ecx
2:      pushl %ecx
        call pattern
        addl $4, %esp
        movl %eax, %esi                   /* value */
        movl %ebx, %eax
        shll $8, %eax
        movl %ecx, %edx
        andl $0xfc, %edx
        orl %edx, %eax
        orl $0x80000000, %eax
        movw $0xcf8, %dx
        outl %eax, %dx
        movl %ecx, %edx
        andl $3, %edx
        addl $0xcfc, %edx
        movl %esi, %eax
        testl $4, %ecx                    /* width: byte or dword */
        jz 3f
        outb %al, %dx
        inb %dx, %al
        jmp 4f
3:      outl %eax, %dx
        inl %dx, %eax
4:      addl $3, accesses
        incl %ecx
        cmpl config_rounds, %ecx
        jb 2b
        /* ECAM: bus 0, this devfn, 4 KiB */
        movl %ebx, %edi
        shll $12, %edi
        addl $ECAM, %edi
        xorl %ecx, %ecx
5:      pushl %ecx
        call pattern
        addl $4, %esp
        movl %ecx, %edx
        andl $0xffc, %edx
        movl %eax, (%edi, %edx)
        movl (%edi, %edx), %eax
        addl $2, accesses
        incl %ecx
        cmpl config_rounds, %ecx
        jb 5b
        PRINT " flooded\n"
8:      incl %ebx
        cmpl $256, %ebx
        jb 1b
        popal
        ret

        .section .rodata
n_rng:  .asciz "virtio-entropy BAR 0"
n_blk:  .asciz "virtio-blk BAR 0"
n_net:  .asciz "virtio-net BAR 0"
n_con:  .asciz "virtio-console BAR 0"
n_shm:  .asciz "shmem BAR 0"
n_host: .asciz "pci-host CF8-CFF"

        .data
        .balign 4
config_rounds: .long 20000
late:                                     /* CF8 itself, after the BARs */
        .long n_host                      /* CF9 bit 2 would reset the VM */
        .long K_PORT, 0xcf8, 4, 25000, 7, 0xfbfbfbfb, 0
        .long K_PORT, 0xcfc, 4, 25000, 7, -1, 0
        .long -1
        .long 0
/* BAR 0 of a virtio function: no queue enabled (queue_enable is a 16-bit 1:
 * even values only), MSI-X entries masked */
virtio_bar:
        .long K_BAR, 0x0000, 0x38, 20000, 7, 0xfffefffe, 0
        .long K_BAR, 0x1000, 4, 4000, 7, -1, 0
        .long K_BAR, 0x2000, 0x40, 6000, 7, -1, 0
        .long K_BAR, 0x3000, 0x20, 6000, 7, -1, 0
        .long K_BAR, 0x4000, 0x100, 10000, 7, -1, 0x01010101
        .long K_BAR, 0x5000, 8, 4000, 7, -1, 0
        .long -1
shmem_bar:                                /* addresses above 2 GiB */
        .long K_BAR, 0x0000, 0x1000, 50000, 7, -1, 0x80808080
        .long -1
/* PCI ID, regions, name */
pcidevs:
        .long 0x10441af4, virtio_bar, n_rng
        .long 0x10421af4, virtio_bar, n_blk
        .long 0x10411af4, virtio_bar, n_net
        .long 0x10431af4, virtio_bar, n_con
        .long 0x00011c05, shmem_bar, n_shm
        .long 0
