/* pit-delay: the i8254 as Linux (and the BSDs) use it to calibrate the TSC
 * and for early delays, with no interrupts. Timed with the ACPI PM timer
 * (3.579545 MHz, port 0x608, 3 PM ticks per PIT tick). The vCPU may be
 * descheduled between any two exits, so every timing check brackets the
 * event with PM timer reads and fails only on what no delay can explain.
 * Proves:
 *   1. Linux's pit_calibrate_tsc pattern: port 0x61 = gate 2 on, speaker
 *      off; counter 2 in mode 0 (0xb0) with a 10 ms latch (11932); poll
 *      port 0x61 until OUT2 (bit 5) rises, reading the PM timer before each
 *      poll (Linux reads the TSC there). OUT2 must rise no earlier than
 *      9.5 ms (PM read before the load to PM read after the first high
 *      poll) and no later than 10.5 ms (PM read after the load to PM read
 *      before the last low poll): a counter 5% fast or slow fails. A load
 *      whose rise is not bracketed within 1 ms (the vCPU was descheduled
 *      around the load or the rise) is measured again (up to 10 loads; the
 *      last one is checked all the same).
 *      The rate, which the rise check cannot see on a busy host: two
 *      latched counts 20-50 ms apart, each bracketed by PM timer reads,
 *      differ by 1.193182 MHz +-2% of the bracketed interval (retried
 *      until the brackets are under 1/16 of it, up to 50 times).
 *      A poll of port 0x61 must cost at most 8x a trivial exit (a scratch
 *      register read): 16 batches of 50 of each, the fastest batch of each
 *      compared (a descheduled batch is never the fastest); whether the
 *      host makes Linux's 1000 polls in 10 ms is printed, not checked;
 *   2. counter 2 keeps counting after terminal count (mode 0 wraps), and
 *      gate low (port 0x61 bit 0 = 0) stops it: two reads agree;
 *   3. Linux's quick_pit_calibrate pattern: mode 0, count 0xffff, 1000
 *      unlatched lobyte/hibyte reads of port 0x42: the MSB never increases
 *      (the pair itself may tear, as on hardware) unless the PM timer says
 *      enough time passed between the two reads for the count to reach 0
 *      and wrap (mode 0 keeps counting);
 *   4. a latched count (0x80 to 0x43) is between the latched count before
 *      it and the unlatched count after it, modulo 2^16: both distances
 *      together are at most the PIT ticks the PM timer allows for the whole
 *      sequence (+255 for a torn unlatched pair). Sequences longer than one
 *      PIT period (where a wrap could hide anything) are retried; 8 are
 *      checked. */
        .include "common.inc"
        GUEST_NAME "pit-delay"

        .set LATCH_10MS, 11932          /* 1193182 Hz / 100 */
        .set PM_9_5MS, 34005            /* 3579545 * 0.0095 */
        .set PM_10MS, 35795
        .set PM_10_5MS, 37585
        .set PM_1MS, 3580
        .set PM_20MS, 71591
        .set PM_50MS, 178977

/* %eax = current 16-bit count of counter 2 read lobyte then hibyte */
read_ch2:
        pushl %edx
        xorl %eax, %eax
        inb $0x42, %al
        movb %al, %dl
        inb $0x42, %al
        movb %al, %ah
        movb %dl, %al
        popl %edx
        ret

main:
        /* ---- 1. calibration loop ---- */
        inb $0x61, %al
        andb $~0x02, %al
        orb $0x01, %al
        outb %al, $0x61
        movl $10, tries
10:     call pm_now
        movl %eax, pm_a                 /* before the load */
        movb $0xb0, %al                 /* counter 2, lo/hi, mode 0, binary */
        outb %al, $0x43
        movw $LATCH_10MS, %ax
        outb %al, $0x42
        movb %ah, %al
        outb %al, $0x42
        call pm_now
        movl %eax, pm0                  /* after the load */
        movl %eax, pm_low
        xorl %ecx, %ecx
1:      call pm_now
        movl %eax, %ebx                 /* before this poll */
        inb $0x61, %al
        incl %ecx
        testb $0x20, %al
        jnz 3f
        movl %ebx, pm_low               /* OUT2 was low after this */
        cmpl $50000000, %ecx            /* bound: never spin forever */
        jb 1b
        FAIL_MSG 2, "OUT2 never rose"
3:      movl %ecx, polls
        call pm_now
        subl pm_a, %eax
        movl %eax, pm_outer             /* >= load .. rise */
        movl pm_low, %eax
        subl pm0, %eax
        movl %eax, pm_inner             /* <= load .. rise */
        PRINT "pit-delay: 10 ms latch: OUT2 rose "
        PRINTHEX pm_inner
        PRINT " .. "
        PRINTHEX pm_outer
        PRINT " PM ticks after the load, "
        PRINTHEX polls
        PRINT " polls\n"
        cmpl $PM_9_5MS, pm_outer
        jae 5f
        cmpl $1, polls
        jne 4f
        FAIL_MSG 1, "OUT2 high right after a mode 0 load"
4:      FAIL_MSG 3, "OUT2 rose early"
5:      cmpl $1, polls                  /* high at the first poll: the vCPU
                                         * did not run for ~10 ms after the
                                         * load, no lower bound */
        je 2f
        cmpl $PM_10_5MS, pm_inner
        jbe 11f
        FAIL_MSG 4, "OUT2 rose late (counter slow)"
11:     movl pm_outer, %eax
        subl pm_inner, %eax
        cmpl $PM_1MS, %eax
        jbe 6f                          /* bracketed within 1 ms: done */
2:      decl tries
        jnz 10b
        PRINT "pit-delay: note: no load bracketed within 1 ms in 10 tries (busy host)\n"
6:      /* Rate: two latched counts of counter 2 (mode 0, 0xffff), each
         * bracketed by PM timer reads, >= 20 ms and < 50 ms apart (less
         * than one 55 ms period, so the count difference modulo 2^16 is
         * the elapsed ticks). Unlike the rise above this does not need the
         * vCPU to run in between, only around the two latches: sequences
         * whose brackets exceed 1/16 of the interval, or that span 50 ms,
         * are retried (up to 50). Slow: ticks below 98% of the shortest
         * interval; fast: above 102% of the longest. */
        movb $0xb0, %al
        outb %al, $0x43
        movb $0xff, %al
        outb %al, $0x42
        outb %al, $0x42
        movl $50, tries
20:     call pm_now
        movl %eax, pm_a
        movb $0x80, %al
        outb %al, $0x43
        call read_ch2
        movl %eax, %esi                 /* c0 */
        call pm_now
        movl %eax, pm0                  /* pm_b */
        xorl %ecx, %ecx
21:     incl %ecx
        cmpl $10000000, %ecx            /* bound */
        jb 22f
        FAIL_MSG 2, "PM timer does not advance"
22:     call pm_now
        movl %eax, %ebx                 /* pm_c candidate */
        subl pm0, %eax
        cmpl $PM_20MS, %eax
        jb 21b
        movl %eax, pm_inner
        movb $0x80, %al
        outb %al, $0x43
        call read_ch2
        movl %eax, %edi                 /* c1 */
        call pm_now
        subl pm_a, %eax
        movl %eax, pm_outer
        cmpl $PM_50MS, %eax
        jae 25f                         /* could span a wrap: again */
        subl pm_inner, %eax             /* both brackets */
        shll $4, %eax
        cmpl pm_inner, %eax
        ja 25f                          /* brackets > 1/16: again */
        movl %esi, %eax
        subl %edi, %eax
        andl $0xffff, %eax
        movl %eax, pit_ticks
        PRINT "pit-delay: counter 2: "
        PRINTHEX pit_ticks
        PRINT " ticks in "
        PRINTHEX pm_inner
        PRINT " .. "
        PRINTHEX pm_outer
        PRINT " PM ticks\n"
        CMP_PRODUCTS pit_ticks, $3579545, pm_inner, $1169318
        cmpl $0, %eax
        jge 23f
        FAIL_MSG 11, "counter 2 slower than 1.193182 MHz - 2%"
23:     CMP_PRODUCTS pit_ticks, $3579545, pm_outer, $1217046
        cmpl $0, %eax
        jle 26f
        FAIL_MSG 12, "counter 2 faster than 1.193182 MHz + 2%"
25:     decl tries
        jnz 20b
        PRINT "pit-delay: note: no rate sequence bracketed in 50 tries (busy host)\n"

26:     /* Cost of a port 0x61 poll against a trivial exit (a read of
         * COM1's scratch register): the PIT must not add to the host's exit
         * cost more than 8x (this catches a PIT path that sleeps or loops).
         * The fastest of 16 batches of each is compared: descheduling only
         * ever slows a batch down. (Linux also wants >= 1000 polls in
         * 10 ms, i.e. exits under 10 us: reported, a property of the host.) */
        movl $0xffffffff, min61
        movl $0xffffffff, minscr
        movl $16, %esi
51:     call pm_now
        movl %eax, %ebx
        movl $50, %ecx
52:     inb $0x61, %al
        decl %ecx
        jnz 52b
        call pm_now
        subl %ebx, %eax
        cmpl min61, %eax
        jae 53f
        movl %eax, min61
53:     call pm_now
        movl %eax, %ebx
        pushl $50
        call delay
        addl $4, %esp
        call pm_now
        subl %ebx, %eax
        cmpl minscr, %eax
        jae 54f
        movl %eax, minscr
54:     decl %esi
        jnz 51b
        PRINT "pit-delay: fastest 50 polls of port 0x61: "
        PRINTHEX min61
        PRINT " PM ticks, of 50 trivial exits: "
        PRINTHEX minscr
        PRINT " PM ticks\n"
        movl minscr, %eax
        shll $3, %eax
        addl $4, %eax                   /* PM timer granularity */
        cmpl %eax, min61
        jbe 55f
        FAIL_MSG 5, "port 0x61 polls cost more than 8x a trivial exit"
55:     movl min61, %eax
        imull $20, %eax                 /* 1000 polls = 20 batches */
        cmpl $PM_10MS, %eax
        jbe 56f
        PRINT "pit-delay: note: < 1000 polls in 10 ms: this host's exits are slower than Linux's PIT calibration wants\n"
56:     PRINT "pit-delay: calibration loop ok\n"

        /* ---- 2. gate low freezes counter 2 ---- */
        inb $0x61, %al
        andb $~0x03, %al
        outb %al, $0x61
        call read_ch2
        movl %eax, %ebx
        pushl $200
        call delay
        addl $4, %esp
        call read_ch2
        EXPECT %eax, %ebx, 6
        PRINT "pit-delay: gate low holds the count\n"

        /* ---- 3. unlatched reads never increase ----
         * q_{i-2} (esi) .. q_i (a PM read after read i) brackets reads i-1
         * and i; an MSB that went up is a wrap only if the counter had time
         * to reach 0: more than MSB_{i-1} * 256 PIT ticks. */
        inb $0x61, %al
        orb $0x01, %al
        outb %al, $0x61
        movb $0xb0, %al
        outb %al, $0x43
        movb $0xff, %al
        outb %al, $0x42
        outb %al, $0x42
        call pm_now
        movl %eax, %esi                 /* q_{i-2} */
        call read_ch2
        shrl $8, %eax
        movl %eax, %ebx                 /* MSB_{i-1} */
        call pm_now
        movl %eax, %edi                 /* q_{i-1} */
        movl $1000, %ecx
7:      call read_ch2
        shrl $8, %eax                   /* the MSB: an unlatched lo/hi pair
                                         * tears (as on hardware) */
        movl %eax, msb
        call pm_now
        movl %eax, %edx                 /* q_i */
        subl %esi, %eax
        movl %edi, %esi
        movl %edx, %edi
        call pm_to_pit                  /* eax = most PIT ticks between
                                         * reads i-1 and i */
        movl msb, %edx
        cmpl %ebx, %edx
        jbe 8f
        movl %ebx, %edx
        shll $8, %edx
        cmpl %edx, %eax
        ja 12f                          /* time enough to wrap through 0 */
        pushl %ebx
        pushl msb
        pushl $7
        call fail                       /* count went up */
12:     movl msb, %edx
8:      movl %edx, %ebx
        decl %ecx
        jnz 7b
        PRINT "pit-delay: counter 2 counts down monotonically\n"

        /* ---- 4. latch ---- */
        movl $200, tries
        movl $0, latch_ok
40:     call pm_now
        movl %eax, pm_a
        movb $0x80, %al                 /* "before" latched too: an unlatched
                                         * lo/hi pair can tear low and make a
                                         * correct latch look like it rose */
        outb %al, $0x43
        call read_ch2
        movl %eax, %ebx                 /* before */
        movb $0x80, %al                 /* latch counter 2 */
        outb %al, $0x43
        pushl $50
        call delay
        addl $4, %esp
        call read_ch2
        movl %eax, %esi                 /* latched value */
        call read_ch2
        movl %eax, %edi                 /* after */
        call pm_now
        subl pm_a, %eax
        call pm_to_pit                  /* eax = most PIT ticks elapsed */
        leal 255(%eax), %edx            /* + a torn "after" pair */
        cmpl $0x10000, %edx
        jae 45f                         /* a whole period: retry */
        movl %ebx, %ecx
        subl %esi, %ecx
        andl $0xffff, %ecx              /* before - latched */
        cmpl %eax, %ecx
        jbe 41f
        FAIL_MSG 8, "latched count above the count read before"
41:     movl %esi, %eax
        subl %edi, %eax
        andl $0xffff, %eax              /* latched - after */
        addl %ecx, %eax
        cmpl %edx, %eax
        jbe 42f
        FAIL_MSG 9, "latched count below the count read after"
42:     incl latch_ok
        cmpl $8, latch_ok
        jae 46f
45:     decl tries
        jnz 40b
        cmpl $0, latch_ok
        jne 46f
        FAIL_MSG 10, "no latch sequence within one PIT period in 200 tries"
46:     PRINT "pit-delay: latch ok\n"
        ret

/* pm_to_pit: %eax = PM ticks -> the most PIT ticks that can pass in them
 * (3 PM ticks per PIT tick, +3 for both clocks' truncation). */
pm_to_pit:
        pushl %ecx
        pushl %edx
        xorl %edx, %edx
        movl $3, %ecx
        divl %ecx
        addl $3, %eax
        popl %edx
        popl %ecx
        ret

        .data
tries:      .long 0
pm_a:       .long 0
pm0:        .long 0
pm_low:     .long 0
pm_inner:   .long 0
pm_outer:   .long 0
polls:      .long 0
pit_ticks:  .long 0
min61:      .long 0
minscr:     .long 0
msb:        .long 0
latch_ok:   .long 0
        .text
