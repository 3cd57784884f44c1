/* mb2-info: booted by qvm as a Multiboot 2 kernel (address, entry and
 * information-request tags; an optional framebuffer tag qvm declines).
 * Proves the entry state (EAX = 0x36D76289, EBX = 8-byte aligned info,
 * protected mode with paging off, IF = 0) and the information tags: all
 * 8-byte aligned, total_size ends at the end tag; command line (first word
 * the image's name, then the configured `cmdline`); boot loader name
 * "qvm"; two modules (the initrd, then `module load` with its string),
 * page aligned, holding the file's bytes; basic meminfo 639 / 15360;
 * memory map with entry_size 24 and the 0x9FC00 hole reserved; ACPI old
 * and new RSDP copies identical to the RSDP qvm placed in 0xE0000-0xFFFFF;
 * no framebuffer tag; the info block outside the image and its bss. */
        .section .text.entry, "ax"
mb_entry0:
        jmp mb_entry
        .balign 8
mb_header:
        .long 0xe85250d6, 0, mb_header_end - mb_header
        .long -(0xe85250d6 + (mb_header_end - mb_header))
        .word 2, 0                      /* address */
        .long 24, mb_header, 0x100000, 0, __bss_end
        .word 3, 0                      /* entry address */
        .long 12, mb_entry
        .long 0
        .word 1, 0                      /* information request (required) */
        .long 8 + 4 * 6, 1, 2, 3, 4, 6, 15
        .word 5, 1                      /* framebuffer, optional */
        .long 20, 1024, 768, 32
        .long 0
        .word 0, 0                      /* end */
        .long 8
mb_header_end:
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
        GUEST_NAME "mb2-info"

main:
        EXPECT saved_eax, $0x36d76289, 1
        movl saved_cr0, %eax
        andl $0x80000001, %eax
        EXPECT %eax, $1, 2
        movl saved_eflags, %eax
        andl $0x200, %eax
        EXPECT %eax, $0, 3
        movl saved_ebx, %ebx
        movl %ebx, %eax
        andl $7, %eax
        EXPECT %eax, $0, 4
        cmpl $0x100000, %ebx
        jb 1f
        cmpl $__bss_end, %ebx
        jae 1f
        FAIL_MSG 5, "info structure inside the image"
1:      movl (%ebx), %ecx
        addl %ebx, %ecx                 /* end of the block */
        movl %ecx, info_end
        leal 8(%ebx), %esi              /* first tag */
        xorl %ebp, %ebp                 /* seen: bit n = tag type n */
        movl $64, tag_budget            /* bound on tags */
2:      movl %esi, %eax
        andl $7, %eax
        EXPECT %eax, $0, 6
        cmpl info_end, %esi
        jb 3f
        FAIL_MSG 7, "tags run past total_size without an end tag"
3:      movl 0(%esi), %eax              /* type */
        cmpl $31, %eax
        ja 4f
        btsl %eax, %ebp
4:      testl %eax, %eax
        jz 20f
        cmpl $1, %eax
        je 11f
        cmpl $2, %eax
        je 12f
        cmpl $3, %eax
        je 13f
        cmpl $4, %eax
        je 14f
        cmpl $6, %eax
        je 16f
        cmpl $14, %eax
        je 114f
        cmpl $15, %eax
        je 115f
        jmp 19f
11:     leal 8(%esi), %eax
        pushl %esi
        CHECK_CMDLINE %eax, $args, 8
        popl %esi
        PRINT "mb2-info: cmdline ok\n"
        jmp 19f
12:     leal 8(%esi), %eax
        EXPECT_STR %eax, $loader, 9
        jmp 19f
13:     movl 8(%esi), %eax
        testl $0xfff, %eax
        jz 131f
        FAIL_MSG 10, "module not page aligned"
131:    movl 12(%esi), %eax
        subl 8(%esi), %eax
        EXPECT %eax, $image_size, 11
        pushl %esi
        EXPECT_IMAGE_COPY 8(%esi), 12
        popl %esi
        incl nmods
        cmpl $2, nmods
        jne 19f
        leal 16(%esi), %eax
        EXPECT_STR %eax, $modstr, 13
        PRINT "mb2-info: modules ok\n"
        jmp 19f
14:     EXPECT 8(%esi), $639, 14
        EXPECT 12(%esi), $15360, 15
        jmp 19f
16:     EXPECT 8(%esi), $24, 16         /* entry_size */
        leal 16(%esi), %edx
        movl 4(%esi), %ecx
        addl %esi, %ecx
161:    cmpl %ecx, %edx
        jae 162f
        cmpl $0x9fc00, 0(%edx)
        jne 163f
        cmpl $0, 4(%edx)
        jne 163f
        EXPECT 16(%edx), $2, 17
        incl hole_seen
163:    addl $24, %edx
        jmp 161b
162:    EXPECT hole_seen, $1, 18
        PRINT "mb2-info: memory map ok\n"
        jmp 19f
114:    EXPECT 4(%esi), $28, 19
        pushl %esi
        leal 8(%esi), %esi
        movl $20, %ecx
        call cmp_rsdp
        popl %esi
        EXPECT %eax, $1, 20
        jmp 19f
115:    EXPECT 4(%esi), $44, 21
        pushl %esi
        leal 8(%esi), %esi
        movl $36, %ecx
        call cmp_rsdp
        popl %esi
        EXPECT %eax, $1, 22
        PRINT "mb2-info: ACPI RSDP copies ok\n"
19:     movl 4(%esi), %eax              /* next tag */
        cmpl $8, %eax
        jae 191f
        FAIL_MSG 23, "tag size below 8"
191:    addl $7, %eax
        andl $~7, %eax
        addl %eax, %esi
        decl tag_budget
        jnz 2b
        FAIL_MSG 24, "more than 64 tags"
20:     EXPECT 4(%esi), $8, 25
        addl $8, %esi
        EXPECT %esi, info_end, 26
        movl %ebp, %eax
        andl $0xc05e, %eax              /* 1 2 3 4 6 14 15 */
        EXPECT %eax, $0xc05e, 27
        movl %ebp, %eax
        andl $0x100, %eax
        EXPECT %eax, $0, 28             /* no framebuffer */
        EXPECT nmods, $2, 29
        ret

/* cmp_rsdp: %esi = copy, %ecx = length; %eax = 1 when it equals the
 * "RSD PTR " structure found by scanning 0xE0000-0xFFFFF on 16 bytes. */
cmp_rsdp:
        pushl %edi
        movl $0xe0000, %edi
1:      cmpl $0x20445352, (%edi)        /* "RSD " */
        jne 2f
        cmpl $0x20525450, 4(%edi)       /* "PTR " */
        je 3f
2:      addl $16, %edi
        cmpl $0x100000, %edi
        jb 1b
        xorl %eax, %eax
        popl %edi
        ret
3:      repe cmpsb
        sete %al
        movzbl %al, %eax
        popl %edi
        ret

        .section .rodata
args:   .asciz "hello multiboot2"
modstr: .asciz "second module"
loader: .asciz "qvm"
image_file: .ascii "/mb2-info.bin"
image_file_end:
        .text

        .data
saved_eax:    .long 0
saved_ebx:    .long 0
saved_eflags: .long 0
saved_cr0:    .long 0
info_end:     .long 0
nmods:        .long 0
hole_seen:    .long 0
tag_budget:   .long 0
image_end:                              /* last bytes of the flat image */
        .text
        .set image_size, image_end - 0x100000
