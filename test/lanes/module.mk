# Emulated-host lanes (test/lanes/<arch>/run.sh, run by test/run-tests.sh).
# Each lane boots a host image built from its own buildfile with qvm-mkimage.
#   make lane-image-x86_64   build/image/lane-x86_64/{bzImage,initramfs.cpio.gz}
.PHONY: lane-image-x86_64
lane-image-x86_64: $(BIN)/qvm $(addprefix $(VDEVDIR)/vdev-,$(addsuffix .so,$(VDEVS))) $(MKIMAGE) guest $(MICROGUESTS) \
    $(BUILD)/lane-tools/qvm-gdbcheck $(BIN)/qvm-shm
	$(MKIMAGE) --outroot $(BUILD)/image TOP=$(CURDIR) BUILD=$(abspath $(BUILD)) test/lanes/x86_64/lane.build

# qvm-gdbcheck: the gdb remote-protocol client of the gdb-kernel lane test
# (static: the host image has no C library of its own to spare).
$(BUILD)/lane-tools/qvm-gdbcheck: test/lanes/lib/gdbcheck.c
	@mkdir -p $(dir $@)
	$(CC) -static -O2 -Wall -Wextra -Werror -o $@ $<
