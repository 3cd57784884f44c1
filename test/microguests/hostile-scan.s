/*
 * hostile-scan: every I/O port and the whole MMIO hole below 4 GiB,
 * read and written at every width. Run by test/hostile/run.sh (not in
 * tests.tsv: the runner also watches qvm from outside: /dev/qvm answers
 * while the scan runs, RSS does not grow, the log stays bounded).
 *   1. ports 0-0xffff: inb/inw/inl, then outb/outw/outl of 0 (all but the
 *      debug-exit port 0xf4-0xf7, which would end the run, and COM1, this
 *      guest's console);
 *   2. every 4 KiB page of 0xc0000000-0xfffff000 (PCI BARs, ECAM, I/O APIC,
 *      HPET, LAPIC, the rest unassigned): byte/word/dword reads at the
 *      page's start and a dword write of 0 there (a page's first register
 *      is an identification or select register on every device here);
 *      every 16 MiB from the end of RAM to 0xc0000000 the same;
 *   3. afterwards the devices still work: COM1 scratch round trip, the I/O
 *      APIC version register, the PM timer advancing.
 * Unassigned space reads all-ones and drops writes (`unsupported ignore`
 * in the config, rate-limited logging); survival and working devices are
 * the checks.
 */
        .include "common.inc"
        GUEST_NAME "hostile-scan"

        .set RAM_END, 0x01000000          /* config: ram 16M */

main:
        PRINT "hostile-scan: ports\n"
        xorl %ecx, %ecx
1:      movw %cx, %dx
        inb %dx, %al
        inw %dx, %ax
        inl %dx, %eax
        cmpl $0xf4, %ecx                  /* debug-exit */
        jb 2f
        cmpl $0xf7, %ecx
        jbe 3f
2:      cmpl $COM1, %ecx                  /* the console (and wide writes
        jb 21f                             * reaching into it) */
        cmpl $COM1 + 7, %ecx
        jbe 3f
21:     cmpl $COM1 - 3, %ecx
        jb 22f
        cmpl $COM1, %ecx
        jb 3f
22:     cmpl $0xf1, %ecx                  /* wide writes reaching 0xf4 */
        jb 23f
        cmpl $0xf4, %ecx
        jb 3f
23:     xorl %eax, %eax
        outb %al, %dx
        outw %ax, %dx
        outl %eax, %dx
3:      incl %ecx
        cmpl $0x10000, %ecx
        jb 1b
        PRINT "hostile-scan: ports done\n"

        /* MMIO: 16 MiB steps below the PCI hole, then every page of it */
        movl $RAM_END, %esi
4:      call poke
        addl $0x01000000, %esi
        cmpl $0xc0000000, %esi
        jb 4b
        PRINT "hostile-scan: below the hole done\n"
5:      call poke
        addl $0x1000, %esi
        jnc 5b                            /* until it wraps past 4 GiB */
        PRINT "hostile-scan: 0xc0000000-0xffffffff done\n"

        /* the devices still work */
        movw $COM1_SCR, %dx
        movb $0x5a, %al
        outb %al, %dx
        xorl %eax, %eax
        inb %dx, %al
        EXPECT %eax, $0x5a, 1
        movl $0x01, IOAPIC_SEL
        movl IOAPIC_WIN, %eax
        shrl $16, %eax
        andl $0xff, %eax
        EXPECT %eax, $23, 2
        call pm_now
        movl %eax, %ebx
        pushl $2000
        call delay
        addl $4, %esp
        call pm_now
        cmpl %ebx, %eax
        jne 6f
        FAIL_MSG 3, "the PM timer stopped"
6:      PRINT "hostile-scan: devices still work\n"
        ret

/* poke: reads of every width and a dword write of 0 at %esi */
poke:
        movb (%esi), %al
        movw (%esi), %ax
        movl (%esi), %eax
        movl $0, (%esi)
        ret
