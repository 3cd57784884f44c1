# vdev/shmem/linux: the guest side of vdev shmem for the x86_64 test guest
# (README.md here), built by `make guest` into $(BUILD)/guest-tools/ and put
# into the guest's initramfs by test/guest/guest.build:
#   qvm_shm.ko     the driver, built by the kernel's own kbuild against
#                  the guest kernel's headers (tools/debian-fetch.sh unpacks
#                  them into $(DOWNLOADS)/x86_64/kheaders), on a copy of
#                  the sources in $(BUILD)/guest-kmod/qvm_shm/ so that the
#                  source tree stays clean
#   qvm-shmtest    its user-space test tool (static)
SHMLNX := vdev/shmem/linux
ifeq ($(ARCH),x86_64)
QVMSHM_KO := $(BUILD)/guest-tools/qvm_shm.ko
# = $(DOWNLOADS)/$(ARCH) (tools/module.mk, included after this file)
QVMSHM_DL := $(BUILD)/downloads/$(ARCH)
QVMSHM_KDIR = $(abspath $(QVMSHM_DL))/kheaders
QVMSHM_KBUILD := $(BUILD)/guest-kmod/qvm_shm

$(BUILD)/guest-tools/qvm-shmtest: $(SHMLNX)/shmtest.c $(SHMLNX)/qvmshm.h
	@mkdir -p $(dir $@)
	$(CC) -static -O2 -Wall -Wextra -Werror -I$(SHMLNX) -o $@ $<
guest: $(BUILD)/guest-tools/qvm-shmtest

# The headers come with the downloads (a phony target: order-only here);
# a new kernel version rebuilds the module.
$(QVMSHM_KO): $(SHMLNX)/qvm_shm.c $(SHMLNX)/qvmshm.h $(SHMLNX)/Kbuild \
              $(wildcard $(QVMSHM_DL)/kernel-version) | downloads
	@test -f $(QVMSHM_KDIR)/Makefile || { echo "qvm_shm.ko: no kernel headers in $(QVMSHM_KDIR) (tools/debian-fetch.sh)" >&2; exit 1; }
	@mkdir -p $(QVMSHM_KBUILD) $(dir $@)
	cp $(SHMLNX)/qvm_shm.c $(SHMLNX)/qvmshm.h $(SHMLNX)/Kbuild $(QVMSHM_KBUILD)/
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES make -s -C $(QVMSHM_KDIR) M=$(abspath $(QVMSHM_KBUILD)) modules
	strip --strip-debug -o $@ $(QVMSHM_KBUILD)/qvm_shm.ko
guest: $(QVMSHM_KO)
endif
