/*
 * pass-edu: a real PCI function passed through with `pass loc
 * pci:0x1234/0x11e8` (vdev vfio-pci): QEMU's "edu" device, bound to
 * vfio-pci in the x86_64 passthrough lane's emulated host (intel-iommu).
 * Runs only there (test/lanes/x86_64/pass-run.sh, test pass-edu), never in
 * the micro-guest table: no other machine has an edu device.
 * Checks, in order:
 *  1. the function is on bus 0 (CF8/CFC scan) with memory BAR0;
 *  2. no MSI capability is offered (qvm's PCI host has MSI-X only; edu has
 *     MSI only, so its guest gets INTx);
 *  3. the ID register reads 0x010000ed, the liveness register returns the
 *     inverse of what was written;
 *  4. factorial 10 = 3628800 with its completion interrupt (status bit
 *     0x80) taken over INTx (IOAPIC pin = the interrupt-line register,
 *     level, active low), acknowledged through 0x64;
 *  5. DMA guest RAM -> edu buffer -> other guest RAM (edu's DMA engine
 *     through the host IOMMU; guest-physical = IO virtual addresses), each
 *     completion by INTx (status 0x100); the copy matches;
 *  6. figures (PM-timer ticks, 3.579545 MHz): 256 reads of the passed BAR's
 *     ID register and 256 reads of the emulated IOAPIC's version register;
 *     16 INTx round trips (write 0x60, handler entered);
 *  7. a reset in place (0xCF9): qvm gives the VM new RAM pages, so its
 *     IOMMU mappings must be made again: after the reset (a mark kept in
 *     edu's liveness register) steps 1-5 run again and the DMA must land
 *     in the new RAM; then the guest passes.
 * Waits poll with a bound (never HLT: under the nested emulation `sti; hlt`
 * after an interrupt hung once).
 */
        .include "common.inc"
        GUEST_NAME "pass-edu"
        .include "lapic.inc"

        .set VEC, 0x51
        .set RTE_ACTIVE_LOW, 1 << 13
        .set EDU_ID, 0x00
        .set EDU_LIVE, 0x04
        .set EDU_FACT, 0x08
        .set EDU_STATUS, 0x20
        .set EDU_ISR, 0x24
        .set EDU_RAISE, 0x60
        .set EDU_ACK, 0x64
        .set EDU_DMA_SRC, 0x80
        .set EDU_DMA_DST, 0x88
        .set EDU_DMA_CNT, 0x90
        .set EDU_DMA_CMD, 0x98
        .set EDU_BUF, 0x40000
        .set DMA_LEN, 256
        .set NREADS, 256
        .set NIRQ, 16
        .set WAIT, 2000000
        .set RESET_MARK, 0x5a5a0001     /* edu liveness: "reset done" */              /* delay steps (SCR reads) per wait */

        .include "pci.inc"

/* INTx handler: time of entry, edu's interrupt status (OR-ed into
 * isr_seen; a status of 0 counts as spurious), acknowledged, EOI. */
edu_handler:
        pushal
        call pm_now
        movl %eax, irq_pm
        movl bar, %ebx
        movl EDU_ISR(%ebx), %eax
        testl %eax, %eax
        jnz 1f
        incl spurious
        jmp 2f
1:      orl %eax, isr_seen
        movl %eax, EDU_ACK(%ebx)
        incl irqs
2:      movl $0, LAPIC_EOI
        popal
        INTR_RETURN

/* wait_irq: waits (bounded) for `irqs` to become non-zero; %eax = irqs */
wait_irq:
        sti
        WAIT_NONZERO irqs, WAIT
        cli
        ret

/* dma(src, dst, cmd): one edu DMA of DMA_LEN bytes with its interrupt */
dma:
        movl bar, %ebx
        movl 4(%esp), %eax
        movl %eax, EDU_DMA_SRC(%ebx)
        movl 8(%esp), %eax
        movl %eax, EDU_DMA_DST(%ebx)
        movl $DMA_LEN, EDU_DMA_CNT(%ebx)
        movl $0, irqs
        movl $0, isr_seen
        movl 12(%esp), %eax
        orl $5, %eax                    /* start, interrupt 0x100 when done */
        movl %eax, EDU_DMA_CMD(%ebx)
        call wait_irq
        ret

/* TIME_READS src: %eax = PM-timer ticks for NREADS reads of src */
        .macro TIME_READS src
        call pm_now
        movl %eax, %esi
        movl $NREADS, %ecx
1:      movl \src, %eax
        loop 1b
        call pm_now
        subl %esi, %eax
        .endm

/* DMA src, dst, cmd, n, msg: dma(); check n (with msg): its interrupt
 * came; check n+1: with status 0x100 */
        .macro DMA src, dst, cmd, n, msg
        pushl \cmd
        pushl \dst
        pushl \src
        call dma
        addl $12, %esp
        testl %eax, %eax
        jnz 1f
        FAIL_MSG \n, "\msg"
1:      EXPECT isr_seen, $0x100, (\n + 1)
        .endm

main:
        SET_GATE VEC, edu_handler
        call lapic_enable
        /* 1. find 1234:11e8 on bus 0 */
        movl $0, pci_dev
1:      pushl $0
        call pci_read
        addl $4, %esp
        cmpl $0x11e81234, %eax
        je 2f
        incl pci_dev
        cmpl $32, pci_dev
        jb 1b
        FAIL_MSG 1, "no edu (1234:11e8) on bus 0"
2:      pushl $0x10
        call pci_read
        addl $4, %esp
        testl $1, %eax
        jz 3f
        FAIL_MSG 2, "BAR0 is not a memory BAR"
3:      andl $~0xf, %eax
        jnz 4f
        FAIL_MSG 2, "BAR0 is not placed"
4:      movl %eax, bar
        pushl $0x00000006               /* memory space, bus master; INTx on */
        pushl $0x04
        call pci_write
        addl $8, %esp
        /* after our own reset in place? (edu's liveness register kept the
         * mark: edu has no reset function VFIO could use) */
        movl bar, %ebx
        cmpl $~RESET_MARK, EDU_LIVE(%ebx)
        jne 1f
        movl $1, after_reset
        PRINT "pass-edu: after the reset in place\n"
1:

        /* 2. capabilities: no MSI */
        pushl $0x05
        call pci_find_cap
        addl $4, %esp
        testl %eax, %eax
        jz 7f
        FAIL_MSG 3, "an MSI capability is offered (qvm's PCI host emulates none)"
7:      PRINT "pass-edu: no MSI capability offered: INTx only\n"

        /* 3. ID and liveness */
        movl bar, %ebx
        movl EDU_ID(%ebx), %eax
        EXPECT %eax, $0x010000ed, 4
        movl $0x12345678, EDU_LIVE(%ebx)
        movl EDU_LIVE(%ebx), %eax
        EXPECT %eax, $0xedcba987, 5
        PRINT "pass-edu: ID 0x010000ed and liveness ok\n"

        /* INTx: the GSI in the interrupt-line register, level, active low */
        pushl $0x3c
        call pci_read
        addl $4, %esp
        movzbl %al, %eax
        cmpl $16, %eax
        jb 8f
        cmpl $24, %eax
        jb 9f
8:      FAIL_MSG 6, "interrupt line is not an IOAPIC GSI 16-23"
9:      movl %eax, gsi
        pushl $VEC | RTE_LEVEL | RTE_ACTIVE_LOW
        pushl %eax
        call ioapic_rte
        addl $8, %esp

        /* 4. factorial with its completion interrupt */
        movl bar, %ebx
        movl $0x80, EDU_STATUS(%ebx)
        movl $0, irqs
        movl $0, isr_seen
        movl $10, EDU_FACT(%ebx)
        call wait_irq
        testl %eax, %eax
        jnz 10f
        FAIL_MSG 7, "no INTx for the factorial's completion"
10:     EXPECT isr_seen, $1, 8
        movl bar, %ebx
        movl $WAIT, %ecx
11:     testl $1, EDU_STATUS(%ebx)      /* busy bit: clear by now */
        jz 12f
        decl %ecx
        jnz 11b
        FAIL_MSG 9, "factorial still busy"
12:     movl EDU_FACT(%ebx), %eax
        EXPECT %eax, $3628800, 10
        movl $0, EDU_STATUS(%ebx)
        PRINT "pass-edu: factorial 10 = 3628800, completion by INTx\n"

        /* 5. DMA: src -> edu buffer -> dst */
        movl $DMA_LEN / 4, %ecx
        movl $0x9e3779b9, %eax
        xorl %edi, %edi
13:     movl %eax, src(,%edi,4)
        movl $0, dst(,%edi,4)
        addl $0x7f4a7c15, %eax
        roll $5, %eax
        incl %edi
        loop 13b
        DMA $src, $EDU_BUF, $0, 11, "no INTx for the DMA to the device"
        DMA $EDU_BUF, $dst, $2, 13, "no INTx for the DMA to guest RAM"
        movl bar, %ebx
        movl EDU_DMA_CMD(%ebx), %eax
        testl $1, %eax
        jz 16f
        FAIL_MSG 15, "DMA still running after its interrupt"
16:     movl $src, %esi
        movl $dst, %edi
        movl $DMA_LEN / 4, %ecx
        repe cmpsl
        je 17f
        FAIL_MSG 16, "the DMA copy differs from the source"
17:     PRINT "pass-edu: DMA RAM -> device -> RAM through the IOMMU ok (256 bytes)\n"
        cmpl $0, after_reset
        je 1f
        /* qvm gave the VM new RAM pages at the reset: DMA reached them,
         * so the IOMMU mappings were made again */
        PRINT "pass-edu: DMA after a reset in place ok\n"
        ret
1:

        /* 6. figures: passed-BAR reads, emulated-register reads, INTx */
        movl bar, %ebx
        TIME_READS EDU_ID(%ebx)
        movl %eax, %edi
        movl $1, IOAPIC_SEL             /* version register */
        TIME_READS IOAPIC_WIN
        PRINT "pass-edu: figure mmio-read passed "
        PRINTHEX %edi
        PRINT " emulated "
        PRINTHEX %eax
        PRINT " pm-ticks per 256 reads\n"

        movl $0, intx_total
        movl $NIRQ, %edi
20:     movl $0, irqs
        movl $0, isr_seen
        call pm_now
        movl %eax, %esi
        movl bar, %ebx
        movl $0x1000, EDU_RAISE(%ebx)   /* raise interrupt status 0x1000 */
        call wait_irq
        testl %eax, %eax
        jnz 21f
        FAIL_MSG 17, "no INTx after a write to the raise register"
21:     EXPECT isr_seen, $0x1000, 18
        movl irq_pm, %eax
        subl %esi, %eax
        addl %eax, intx_total
        decl %edi
        jnz 20b
        PRINT "pass-edu: figure intx "
        PRINTHEX intx_total
        PRINT " pm-ticks per 16 round trips, spurious "
        PRINTHEX spurious
        PRINT "\n"

        /* 7. reset in place (port 0xCF9 bit 2): this guest runs again and
         * its DMA must reach the new RAM (step 5 above, then it passes) */
        movl bar, %ebx
        movl $RESET_MARK, EDU_LIVE(%ebx)
        PRINT "pass-edu: reset in place\n"
        movw $0xcf9, %dx
        movb $0x06, %al
        outb %al, %dx
        DELAY 200000                    /* the reset comes at an exit */
        FAIL_MSG 19, "still running after the reset request"

        .data
pci_dev:    .long 0
bar:        .long 0
gsi:        .long 0
irqs:       .long 0
isr_seen:   .long 0
irq_pm:     .long 0
spurious:   .long 0
intx_total: .long 0
after_reset: .long 0

        .bss
        .balign 64
src:    .skip DMA_LEN
dst:    .skip DMA_LEN
