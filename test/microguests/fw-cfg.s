/* fw-cfg: QEMU's fw_cfg interface as a QEMU-built test kernel uses it
 * (vdev fw-cfg, io 0x510). Proves: the signature item reads "QEMU" through
 * the data port and the DMA port reads "QEMU CFG"; the ID item has the
 * traditional and DMA bits; FW_CFG_NB_CPUS and FW_CFG_MAX_CPUS are the
 * configured 2 vCPUs; FW_CFG_RAM_SIZE is the 16 MiB of RAM; the file
 * directory (big-endian count and entries, walked with a bounded loop)
 * names etc/e820, whose single entry is RAM at 0, 16 MiB, type 1;
 * FW_CFG_CMDLINE_SIZE/DATA give the configured `cmdline`; and one DMA
 * transfer (select + read of FW_CFG_CMDLINE_DATA into guest memory, control
 * structure big-endian) completes with control 0 and the same bytes. */
        .include "common.inc"
        .include "mb.inc"
        GUEST_NAME "fw-cfg"

        .set FW_SEL,  0x510
        .set FW_DATA, 0x511
        .set FW_DMA,  0x514

/* fw_read(key, n): selects `key` and returns its first n (1..4) bytes,
 * little-endian, in %eax. */
fw_read:
        pushl %ecx
        pushl %edx
        pushl %ebx
        movl 16(%esp), %eax
        movw $FW_SEL, %dx
        outw %ax, %dx
        movl 20(%esp), %ecx
        xorl %ebx, %ebx
        movw $FW_DATA, %dx
        /* bytes arrive first-to-last: shift them in from the top */
1:      inb %dx, %al
        shrl $8, %ebx
        movzbl %al, %eax
        shll $24, %eax
        orl %eax, %ebx
        decl %ecx
        jnz 1b
        movl $4, %ecx
        subl 20(%esp), %ecx
        shll $3, %ecx
        shrl %cl, %ebx
        movl %ebx, %eax
        popl %ebx
        popl %edx
        popl %ecx
        ret

/* fw_next(n): the next n (1..4) bytes of the selected item, little-endian. */
fw_next:
        pushl %ecx
        pushl %edx
        pushl %ebx
        movl 16(%esp), %ecx
        xorl %ebx, %ebx
        movw $FW_DATA, %dx
1:      inb %dx, %al
        shrl $8, %ebx
        movzbl %al, %eax
        shll $24, %eax
        orl %eax, %ebx
        decl %ecx
        jnz 1b
        movl $4, %ecx
        subl 16(%esp), %ecx
        shll $3, %ecx
        shrl %cl, %ebx
        movl %ebx, %eax
        popl %ebx
        popl %edx
        popl %ecx
        ret

        .macro FW_READ key, n
        pushl $\n
        pushl $\key
        call fw_read
        addl $8, %esp
        .endm

        .macro FW_NEXT n
        pushl $\n
        call fw_next
        addl $4, %esp
        .endm

main:
        /* 1. signatures */
        FW_READ 0x0000, 4
        EXPECT %eax, $0x554d4551, 1             /* "QEMU" */
        movw $FW_DMA, %dx
        inl %dx, %eax
        EXPECT %eax, $0x554d4551, 2             /* "QEMU" of "QEMU CFG" */
        movw $FW_DMA + 4, %dx
        inl %dx, %eax
        EXPECT %eax, $0x47464320, 3             /* " CFG" */
        FW_READ 0x0001, 4
        EXPECT %eax, $3, 4
        PRINT "fw-cfg: signature and ID ok\n"

        /* 2. CPUs and RAM */
        FW_READ 0x0005, 2
        EXPECT %eax, $2, 5
        FW_READ 0x000f, 2
        EXPECT %eax, $2, 6
        FW_READ 0x0003, 4
        EXPECT %eax, $0x1000000, 7
        FW_NEXT 4
        EXPECT %eax, $0, 8
        PRINT "fw-cfg: 2 CPUs, 16 MiB ok\n"

        /* 3. file directory: find etc/e820 */
        FW_READ 0x0019, 4
        bswap %eax
        movl %eax, nfiles
        cmpl $1, %eax
        jb 1f
        cmpl $64, %eax
        jbe 2f
1:      FAIL_MSG 9, "file count not in 1..64"
2:      xorl %esi, %esi                         /* index */
3:      FW_NEXT 4
        bswap %eax
        movl %eax, fsize
        FW_NEXT 2
        xchgb %al, %ah
        movl %eax, fkey
        FW_NEXT 2                               /* reserved */
        movl $fname, %edi
        movl $14, %ecx                          /* 56 bytes of name */
4:      FW_NEXT 4
        movl %eax, (%edi)
        addl $4, %edi
        decl %ecx
        jnz 4b
        pushl $fname
        pushl $e820_name
        call streq
        addl $8, %esp
        testl %eax, %eax
        jnz 5f
        incl %esi
        cmpl nfiles, %esi
        jb 3b
        FAIL_MSG 10, "etc/e820 not in the file directory"
5:      EXPECT fsize, $20, 11
        movl fkey, %eax
        cmpl $0x20, %eax
        jae 6f
        FAIL_MSG 12, "etc/e820 selector below FW_CFG_FILE_FIRST"
6:      pushl $4
        pushl fkey
        call fw_read
        addl $8, %esp
        EXPECT %eax, $0, 13                     /* base low */
        FW_NEXT 4
        EXPECT %eax, $0, 14                     /* base high */
        FW_NEXT 4
        EXPECT %eax, $0x1000000, 15             /* length */
        FW_NEXT 4
        EXPECT %eax, $0, 16
        FW_NEXT 4
        EXPECT %eax, $1, 17                     /* type RAM */
        PRINT "fw-cfg: file directory and etc/e820 ok\n"

        /* 4. command line through the data port */
        FW_READ 0x0014, 4
        EXPECT %eax, $cmdline_len, 18
        movl $0x0015, %eax
        movw $FW_SEL, %dx
        outw %ax, %dx
        movw $FW_DATA, %dx
        movl $cmdbuf, %edi
        movl $cmdline_len, %ecx
7:      inb %dx, %al
        movb %al, (%edi)
        incl %edi
        decl %ecx
        jnz 7b
        EXPECT_STR $cmdbuf, $cmdline_want, 19
        PRINT "fw-cfg: cmdline ok\n"

        /* 5. DMA: select FW_CFG_CMDLINE_DATA and read it into dmabuf */
        movl $0x0015000a, %eax                  /* key 0x15 << 16 | SELECT | READ */
        bswap %eax
        movl %eax, dma_cs
        movl $cmdline_len, %eax
        bswap %eax
        movl %eax, dma_cs + 4
        movl $0, dma_cs + 8                     /* address high (BE) */
        movl $dmabuf, %eax
        bswap %eax
        movl %eax, dma_cs + 12
        xorl %eax, %eax
        movw $FW_DMA, %dx
        outl %eax, %dx                          /* high half: 0 */
        movl $dma_cs, %eax
        bswap %eax
        movw $FW_DMA + 4, %dx
        outl %eax, %dx                          /* low half: go */
        EXPECT dma_cs, $0, 20                   /* control written back: 0 */
        EXPECT_STR $dmabuf, $cmdline_want, 21
        PRINT "fw-cfg: DMA read ok\n"
        ret

        .section .rodata
e820_name:
        .asciz "etc/e820"
cmdline_want:
        .asciz "fw-cfg says hello"
        .set cmdline_len, . - cmdline_want

        .bss
        .balign 16
nfiles: .long 0
fsize:  .long 0
fkey:   .long 0
fname:  .skip 60
dma_cs: .skip 16
cmdbuf: .skip 64
dmabuf: .skip 64
        .text
