/* mb1-info: booted by qvm as a Multiboot 1 kernel (a.out kludge header,
 * requirement bits 0 and 1). Proves the entry state (EAX = 0x2BADB002,
 * EBX = info, protected mode with paging off, IF = 0) and the information
 * structure: flags mem|cmdline|mods|mmap|boot_loader_name; mem_lower 639,
 * mem_upper 15360 (16 MiB of RAM); the command line's first word is the
 * image's name and the rest the configured `cmdline`; two modules (the
 * `initrd` as module 0, a `module load` with its quoted string), page
 * aligned, holding the file's bytes; an e820-style memory map with RAM at
 * 0 and 1 MiB and the 0x9FC00 hole reserved; boot loader name "qvm"; and
 * that the information, command line and module list lie outside the
 * image and its bss. */
        .section .text.entry, "ax"
mb_entry0:
        jmp mb_entry
        .balign 4
mb_header:
        .long 0x1badb002
        .long 0x00010003
        .long -(0x1badb002 + 0x00010003)
        .long mb_header                 /* header_addr */
        .long 0x100000                  /* load_addr */
        .long 0                         /* load_end_addr: whole file */
        .long __bss_end                 /* bss_end_addr */
        .long mb_entry                  /* entry_addr */
mb_entry:
        movl %eax, saved_eax
        movl %ebx, saved_ebx
        pushfl
        popl saved_eflags
        movl %cr0, %eax
        movl %eax, saved_cr0
        jmp _start

        .include "common.inc"
        .include "mb.inc"
        GUEST_NAME "mb1-info"

main:
        EXPECT saved_eax, $0x2badb002, 1
        movl saved_cr0, %eax
        andl $0x80000001, %eax
        EXPECT %eax, $1, 2              /* PE, no PG */
        movl saved_eflags, %eax
        andl $0x200, %eax
        EXPECT %eax, $0, 3              /* IF clear */
        movl saved_ebx, %ebx
        /* the info block is outside the image and its bss */
        cmpl $0x100000, %ebx
        jb 1f
        cmpl $__bss_end, %ebx
        jae 1f
        FAIL_MSG 4, "info structure inside the image"
1:      movl (%ebx), %eax
        andl $0x24d, %eax
        EXPECT %eax, $0x24d, 5          /* mem cmdline mods mmap name */
        EXPECT 4(%ebx), $639, 6
        EXPECT 8(%ebx), $15360, 7
        movl 16(%ebx), %eax
        cmpl $0x100000, %eax
        jb 2f
        cmpl $__bss_end, %eax
        jae 2f
        FAIL_MSG 8, "cmdline inside the image"
2:      CHECK_CMDLINE 16(%ebx), $args, 9
        PRINT "mb1-info: cmdline ok\n"
        /* modules */
        EXPECT 20(%ebx), $2, 10
        movl 24(%ebx), %esi
        movl 0(%esi), %eax
        testl $0xfff, %eax
        jz 3f
        FAIL_MSG 11, "module 0 not page aligned"
3:      movl 4(%esi), %eax
        subl 0(%esi), %eax
        EXPECT %eax, $image_size, 12
        pushl %esi
        EXPECT_IMAGE_COPY 0(%esi), 13
        popl %esi
        pushl %esi
        EXPECT_IMAGE_COPY 16(%esi), 14
        popl %esi
        EXPECT_STR 24(%esi), $modstr, 15
        PRINT "mb1-info: modules ok\n"
        /* memory map: find RAM at 0, RAM at 1 MiB, reserved at 0x9fc00 */
        movl 48(%ebx), %esi             /* mmap_addr */
        movl 44(%ebx), %ecx
        addl %esi, %ecx                 /* end */
        xorl %edi, %edi                 /* bit 0: RAM@0, 1: hole, 2: RAM@1M */
4:      cmpl %ecx, %esi
        jae 6f
        EXPECT 0(%esi), $20, 16
        cmpl $0, 8(%esi)                /* base high */
        jne 5f
        cmpl $0, 4(%esi)
        jne 41f
        cmpl $1, 20(%esi)
        jne 5f
        orl $1, %edi
41:     cmpl $0x9fc00, 4(%esi)
        jne 42f
        cmpl $2, 20(%esi)
        jne 5f
        orl $2, %edi
42:     cmpl $0x100000, 4(%esi)
        jne 5f
        cmpl $1, 20(%esi)
        jne 5f
        orl $4, %edi
5:      addl $24, %esi
        jmp 4b
6:      EXPECT %edi, $7, 17
        PRINT "mb1-info: memory map ok\n"
        EXPECT_STR 64(%ebx), $loader, 18
        PRINT "mb1-info: boot loader name ok\n"
        ret

        .section .rodata
args:   .asciz "hello multiboot"
modstr: .asciz "second module"
loader: .asciz "qvm"
image_file: .ascii "/mb1-info.bin"
image_file_end:
        .text

        .data
saved_eax:    .long 0
saved_ebx:    .long 0
saved_eflags: .long 0
saved_cr0:    .long 0
image_end:                              /* last bytes of the flat image */
        .text
        .set image_size, image_end - 0x100000
