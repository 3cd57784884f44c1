/* pass-mem: `pass loc mem` backed by a host file or shared-memory object
 * that a host process (test/pass/run.sh) writes and reads while this guest
 * runs. Region A (0x2000000, 2 pages, rw): the host wrote "HOST" at 0 and
 * 0xA5000000+i at 0x100 before qvm started; the guest checks them, writes
 * 0x5A000000+i at 0x200 and then "GUES" at 4; the host, seeing "GUES",
 * checks the guest's words, writes 0xC3000000+i at 0x300 and then "LIVE"
 * at 8; the guest waits for "LIVE" (bounded) and checks the host's words.
 * Region B (0x2010000, 1 page, `r`: a read-only slot): the guest reads
 * "RDON" at 0, writes over it (dropped) and reads "RDON" again. Not in
 * tests.tsv: it needs the host side of test/pass/run.sh. */
        .include "common.inc"
        GUEST_NAME "pass-mem"

        .set A, 0x2000000
        .set B, 0x2010000
        .set NWORDS, 16

/* CHECK_WORDS base, first, n: the NWORDS words at `base` are first+i. */
        .macro CHECK_WORDS base, first, n
        movl $\base, %esi
        movl $\first, %eax
        movl $NWORDS, %ecx
.Lc\@:  EXPECT (%esi), %eax, \n
        addl $4, %esi
        incl %eax
        decl %ecx
        jnz .Lc\@
        .endm

main:
        EXPECT A, $0x54534f48, 1        /* "HOST" */
        CHECK_WORDS A + 0x100, 0xA5000000, 2
        PRINT "pass-mem: the host's words read\n"
        movl $A + 0x200, %edi
        movl $0x5A000000, %eax
        movl $NWORDS, %ecx
1:      movl %eax, (%edi)
        addl $4, %edi
        incl %eax
        decl %ecx
        jnz 1b
        movl $0x53455547, A + 4         /* "GUES": the host may check now */
        PRINT "pass-mem: guest words written\n"
        pushl $50000000
        pushl $A + 8
        call wait_nonzero
        addl $8, %esp
        testl %eax, %eax
        jnz 2f
        FAIL_MSG 3, "pass-mem: the host never answered"
2:      EXPECT %eax, $0x4556494c, 4     /* "LIVE" */
        CHECK_WORDS A + 0x300, 0xC3000000, 5
        PRINT "pass-mem: the host's live words read\n"
        EXPECT B, $0x4e4f4452, 6        /* "RDON" */
        movl $0x11111111, B             /* to a read-only slot: dropped */
        EXPECT B, $0x4e4f4452, 7
        PRINT "pass-mem: read-only region unchanged by a write\n"
        ret
