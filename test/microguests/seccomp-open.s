/* seccomp-open (run by test/seccomp/run.sh, not by tests.tsv: it needs the
 * test plug-in vdev-sysopen.so at port 0x530): writes the plug-in's
 * register, whose handler opens /etc/hostname on this vCPU's thread, then
 * expects to read 1 back (the open succeeded). Under qvm's system-call
 * filter the write never returns: qvm exits 7 naming `openat`. With
 * `set seccomp off` the guest passes. */
        .include "common.inc"
        GUEST_NAME "seccomp-open"
        .set SYSOPEN, 0x530
main:
        PRINT "seccomp-open: writing the sysopen register\n"
        movw $SYSOPEN, %dx
        movl $1, %eax
        outl %eax, %dx
        inl %dx, %eax
        EXPECT %eax, $1, 1
        ret
