/* rtc: the MC146818 vdev (ports 0x70/0x71). Proves: register D reads 0x80
 * (valid RAM and time); register A's UIP bit is clear at least once within
 * ~1.5 s; time reads in binary/24h, BCD/24h and binary/12h modes are valid
 * and agree with each other (a BCD read lies between two binary reads, with
 * no bound on the time between them); CMOS RAM bytes roundtrip; the periodic
 * interrupt (PIE, rate 6 = 1024 Hz) arrives through IOAPIC pin 8 (vector
 * 0x48) and register C reports IRQF|PF and clears on read. */
        .include "common.inc"
        GUEST_NAME "rtc"
        .include "lapic.inc"

        .set VEC, 0x48
        .set PIN, 8

/* cmos_rd(reg in %bl) -> %eax ; cmos_wr(reg %bl, value %bh) */
cmos_rd:
        movb %bl, %al
        outb %al, $0x70
        xorl %eax, %eax
        inb $0x71, %al
        ret
cmos_wr:
        movb %bl, %al
        outb %al, $0x70
        movb %bh, %al
        outb %al, $0x71
        ret

        .macro CRD reg
        movb $\reg, %bl
        call cmos_rd
        .endm
        .macro CWR reg, val
        movb $\reg, %bl
        movb $\val, %bh
        call cmos_wr
        .endm

/* wait for UIP clear (bounded); fails with check n on timeout */
        .macro WAIT_UIP n
        movl $200000, %ecx
.Lw\@:  CRD 0x0a
        testb $0x80, %al
        jz .Ld\@
        decl %ecx
        jnz .Lw\@
        FAIL_MSG \n, "UIP never cleared"
.Ld\@:
        .endm

/* read h:m:s (raw register values) into hours/mins/secs */
read_time:
        CRD 0x04
        movl %eax, hours
        CRD 0x02
        movl %eax, mins
        CRD 0x00
        movl %eax, secs
        ret

/* bcd2bin %eax (fails with check 30 on a non-BCD digit) */
bcd2bin:
        pushl %ebx
        movl %eax, %ebx
        andl $0x0f, %ebx
        cmpl $9, %ebx
        ja 1f
        shrl $4, %eax
        cmpl $9, %eax
        ja 1f
        imull $10, %eax
        addl %ebx, %eax
        popl %ebx
        ret
1:      FAIL_MSG 30, "time register is not BCD in BCD mode"

rtc_handler:
        pushal
        movb $0x0c, %bl
        call cmos_rd
        movl %eax, last_c
        incl rtc_ticks
        movl $0, LAPIC_EOI
        popal
        INTR_RETURN

main:
        /* 1. register D */
        CRD 0x0d
        EXPECT %eax, $0x80, 1
        /* 2. UIP clears */
        WAIT_UIP 2
        PRINT "rtc: register D 0x80, UIP clear ok\n"

        /* 3. binary 24h */
        CRD 0x0b
        andl $0x80, %eax                /* keep SET as found (should be 0) */
        EXPECT %eax, $0, 3
        CWR 0x0b, 0x06                  /* DM binary, 24h */
        CRD 0x0b
        andl $0x7f, %eax
        EXPECT %eax, $0x06, 4
        WAIT_UIP 5
        call read_time
        cmpl $24, hours
        jb 1f
        FAIL_MSG 6, "binary hours >= 24"
1:      cmpl $60, mins
        jb 1f
        FAIL_MSG 7, "binary minutes >= 60"
1:      cmpl $60, secs
        jb 1f
        FAIL_MSG 8, "binary seconds >= 60"
1:      movl hours, %eax
        imull $3600, %eax
        movl mins, %ebx
        imull $60, %ebx
        addl %ebx, %eax
        addl secs, %eax
        movl %eax, t_bin
        PRINT "rtc: binary time "
        PRINTHEX t_bin
        PRINT " s since midnight\n"

        /* 4. BCD 24h */
        CWR 0x0b, 0x02
        WAIT_UIP 9
        call read_time
        movl hours, %eax
        cmpl $0x23, %eax
        jbe 1f
        FAIL_MSG 10, "BCD hours > 0x23"
1:      call bcd2bin
        imull $3600, %eax
        movl %eax, %ecx
        movl mins, %eax
        call bcd2bin
        imull $60, %eax
        addl %eax, %ecx
        movl secs, %eax
        call bcd2bin
        addl %eax, %ecx
        movl %ecx, t_bcd
        /* agreement: binary again, then t_bin <= t_bcd <= t_bin2 (mod one
         * day): the BCD read lies between the two binary reads, however
         * long the host took between them (no time bound). */
        CWR 0x0b, 0x06
        WAIT_UIP 9
        call read_time
        movl hours, %eax
        imull $3600, %eax
        movl mins, %ebx
        imull $60, %ebx
        addl %ebx, %eax
        addl secs, %eax
        movl %eax, t_bin2
        movl t_bcd, %eax                /* d1 = (t_bcd - t_bin) mod 86400 */
        subl t_bin, %eax
        jns 2f
        addl $86400, %eax
2:      movl t_bin2, %ebx               /* d2 = (t_bin2 - t_bcd) mod 86400 */
        subl t_bcd, %ebx
        jns 21f
        addl $86400, %ebx
21:     addl %ebx, %eax                 /* d1 + d2 = t_bin2 - t_bin, or a day
                                         * more when t_bcd is outside */
        cmpl $86400, %eax
        jb 3f
        PRINT "rtc: BCD time "
        PRINTHEX t_bcd
        PRINT " outside binary "
        PRINTHEX t_bin
        PRINT " .. "
        PRINTHEX t_bin2
        PRINT "\n"
        FAIL_MSG 11, "BCD and binary time disagree"
3:      PRINT "rtc: BCD time agrees with binary time\n"

        /* 5. binary 12h: hour 1..12 with bit 7 = PM, agrees with 24h.
         * Retried when the hour changes between the reads. */
        movl $3, tries
10:     CWR 0x0b, 0x06
        WAIT_UIP 12
        CRD 0x04
        movl %eax, %ecx                 /* 24h */
        CWR 0x0b, 0x04                  /* binary, 12h */
        CRD 0x04
        movl %eax, %edx                 /* 12h */
        CWR 0x0b, 0x06
        CRD 0x04
        cmpl %eax, %ecx
        je 11f
        decl tries
        jnz 10b
11:     movl %edx, %eax
        andl $0x7f, %eax
        cmpl $1, %eax
        jb 4f
        cmpl $12, %eax
        jbe 5f
4:      FAIL_MSG 13, "12h hour outside 1..12"
5:      /* expected 12h encoding from the 24h hour */
        movl %ecx, %eax
        xorl %ebx, %ebx
        cmpl $12, %eax
        jb 6f
        movl $0x80, %ebx                /* PM */
        subl $12, %eax
6:      testl %eax, %eax
        jnz 7f
        movl $12, %eax
7:      orl %ebx, %eax
        cmpl %eax, %edx
        je 8f
        PRINT "rtc: 12h "
        PRINTHEX %edx
        PRINT " 24h "
        PRINTHEX %ecx
        PRINT "\n"
        FAIL_MSG 14, "12-hour mode hour does not match 24-hour mode"
8:      PRINT "rtc: 12-hour mode ok\n"

        /* 6. CMOS RAM roundtrip */
        CWR 0x40, 0x5a
        CWR 0x41, 0xa5
        CRD 0x40
        EXPECT %eax, $0x5a, 15
        CRD 0x41
        EXPECT %eax, $0xa5, 16
        CWR 0x7f, 0x3c
        CRD 0x7f
        EXPECT %eax, $0x3c, 17
        PRINT "rtc: CMOS RAM ok\n"

        /* 7. periodic interrupt through IOAPIC pin 8 */
        SET_GATE VEC, rtc_handler
        call lapic_enable
        RTE PIN, VEC
        CRD 0x0c                        /* clear stale flags */
        CWR 0x0a, 0x26                  /* divider 010, rate 6 = 1024 Hz */
        movl $0, rtc_ticks
        sti
        CWR 0x0b, 0x46                  /* PIE, binary, 24h */
        WAIT_ATLEAST rtc_ticks, 8, 300000
        cli
        cmpl $8, %eax
        jae 9f
        PRINT "rtc: periodic interrupts seen "
        PRINTHEX rtc_ticks
        PRINT "\n"
        FAIL_MSG 18, "fewer than 8 periodic RTC interrupts"
9:      movl last_c, %eax
        andl $0xc0, %eax
        EXPECT %eax, $0xc0, 19          /* IRQF | PF seen by the handler */
        CWR 0x0b, 0x06                  /* PIE off */
        CRD 0x0c
        CRD 0x0c
        andl $0x80, %eax
        EXPECT %eax, $0, 20             /* IRQF clear after read, PIE off */
        PRINT "rtc: periodic interrupt ok\n"
        ret

        .bss
hours:  .long 0
mins:   .long 0
secs:   .long 0
t_bin:  .long 0
t_bcd:  .long 0
t_bin2: .long 0
last_c: .long 0
rtc_ticks: .long 0
tries:  .long 0
        .text
