# tools/: qvm-mkimage (system images from buildfiles), the Debian downloads,
# the `guest`, `image` and `run` targets, and qvmctl (tools/qvmctl/module.mk).
#   build/bin/qvm-mkimage        the image tool (tools/mkimage, C++20, no deps)
#   build/bin/qvm-mkimage-tests  its Catch2 tests (tools/mkimage/test)
#   make guest   build/guest/vmlinuz + build/guest/initramfs.cpio.gz
#   make image   build/image/<name>/{bzImage,initramfs.cpio.gz} from $(BUILDFILE)
#   make run     the demo guest (directly, or inside the emulated host)

include tools/qvmctl/module.mk

MKIMAGE_LIB_SRCS := $(addprefix tools/mkimage/,elf.cc modorder.cc cpio.cc buildfile.cc image.cc)
MKIMAGE_LIB_OBJS := $(patsubst %.cc,$(OBJ)/%.o,$(MKIMAGE_LIB_SRCS))
MKIMAGE_TEST_OBJS := $(patsubst %.cc,$(OBJ)/%.o,$(wildcard tools/mkimage/test/*.cc))
MKIMAGE := $(BIN)/qvm-mkimage
DOWNLOADS := $(BUILD)/downloads

$(MKIMAGE): $(MKIMAGE_LIB_OBJS) $(OBJ)/tools/mkimage/main.o
	@mkdir -p $(dir $@)
	$(CXX) -o $@ $^

$(BIN)/qvm-mkimage-tests: $(MKIMAGE_LIB_OBJS) $(MKIMAGE_TEST_OBJS) $(CATCH_MAIN)
	@mkdir -p $(dir $@)
	$(CXX) -o $@ $^

TOOLS += $(MKIMAGE) $(BIN)/qvm-mkimage-tests

.PHONY: downloads
downloads:
	@bash tools/debian-fetch.sh $(ARCH) $(DOWNLOADS)

# The guest: Debian's cloud kernel + busybox initramfs (test/guest/).
guest: downloads $(MKIMAGE)
	$(MKIMAGE) -o $(BUILD)/guest TOP=$(CURDIR) DL=$(abspath $(DOWNLOADS))/$(ARCH) ARCH=$(ARCH) test/guest/guest.build
	@cmp -s $(DOWNLOADS)/$(ARCH)/vmlinuz $(BUILD)/guest/vmlinuz || cp -L $(DOWNLOADS)/$(ARCH)/vmlinuz $(BUILD)/guest/vmlinuz
	@[ "$(ARCH)" != x86_64 ] || [ $(BUILD)/guest/vmlinux -nt $(BUILD)/guest/vmlinuz ] || \
	  python3 tools/extract-vmlinux.py $(BUILD)/guest/vmlinuz $(BUILD)/guest/vmlinux
	@cp -L $(DOWNLOADS)/$(ARCH)/kernel-pkg/boot/System.map-$$(cat $(DOWNLOADS)/$(ARCH)/kernel-version) $(BUILD)/guest/System.map 2>/dev/null || \
	  : >$(BUILD)/guest/System.map
	@echo "guest: $(BUILD)/guest/vmlinuz ($$(cat $(DOWNLOADS)/$(ARCH)/kernel-version)), $(BUILD)/guest/initramfs.cpio.gz"

# A host image from a buildfile (default qvm.build). The buildfiles find
# qvm, its plug-ins, the downloads and the guest through TOP.
image: all guest
	$(MKIMAGE) --outroot $(BUILD)/image TOP=$(CURDIR) BUILD=$(abspath $(BUILD)) $(BUILDFILE)

# The demo guest: straight on /dev/kvm when it is hardware-backed, else in
# the x86_64 emulated host (QEMU TCG with SVM+NPT) booted from qvm.build.
run:
	@bash tools/run-demo.sh "$(BUILD)" "$(MAKE)"
