# Emulated-host lanes (test/lanes/<arch>/run.sh, run by test/run-tests.sh).
# Each lane boots a host image built from its own buildfile with qvm-mkimage.
#   make lane-image-x86_64   build/image/lane-x86_64/{bzImage,initramfs.cpio.gz}
.PHONY: lane-image-x86_64
lane-image-x86_64: $(BIN)/qvm $(addprefix $(VDEVDIR)/vdev-,$(addsuffix .so,$(VDEVS))) $(MKIMAGE) guest $(MICROGUESTS)
	$(MKIMAGE) --outroot $(BUILD)/image TOP=$(CURDIR) BUILD=$(abspath $(BUILD)) test/lanes/x86_64/lane.build
