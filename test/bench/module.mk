# make bench: qvm against its peers (test/bench/README.md). Never part of
# `make test`; prints figures and writes build/bench/results.json.
#
#   make bench [QUICK=1]     native lane (kvm_pvm) + x86_64 lane (TCG+SVM)
#   make bench-tools         the guests, configs and helper programs only
#   make bench-image         build/image/bench-x86_64 (the lane's host image)
#
# Outputs:
#   $(BUILD)/bench/guests/NAME.elf   Multiboot ELF (QEMU -kernel)
#   $(BUILD)/bench/guests/NAME.bin   the same code as a raw image (qvm, raw loop)
#   $(BUILD)/bench/guests/NAME.qvmconf
#   $(BIN)/qvm-bench-run             times one VMM process (run.c)
#   $(BIN)/qvm-bench-kvmloop         the raw KVM_RUN loop (kvmloop.c)

BENCH_SRC := test/bench
BENCH_OUT := $(BUILD)/bench/guests
# name:MODE:COUNT (guest.s variants)
BENCH_VARIANTS := launch:1:1 idle:2:1 pio-100000:3:100000 pio-10:3:10 \
                  mmio-100000:4:100000 mmio-10:4:10
BENCH_NAMES := $(foreach v,$(BENCH_VARIANTS),$(word 1,$(subst :, ,$(v))))
BENCH_GUESTS := $(foreach n,$(BENCH_NAMES),$(BENCH_OUT)/$(n).elf $(BENCH_OUT)/$(n).bin $(BENCH_OUT)/$(n).qvmconf)
BENCH_TOOLS := $(BIN)/qvm-bench-run $(BIN)/qvm-bench-kvmloop
BENCH_AS ?= as
BENCH_LD ?= ld
BENCH_OBJCOPY ?= objcopy

.PHONY: bench bench-tools bench-image
.PRECIOUS: $(BENCH_OUT)/%.o

define bench_variant
$(BENCH_OUT)/$(1).o: $(BENCH_SRC)/guest.s
	@mkdir -p $$(dir $$@)
	$(BENCH_AS) --32 --fatal-warnings --defsym MODE=$(2) --defsym COUNT=$(3) -o $$@ $$<
endef
$(foreach v,$(BENCH_VARIANTS),$(eval $(call bench_variant,$(word 1,$(subst :, ,$(v))),$(word 2,$(subst :, ,$(v))),$(word 3,$(subst :, ,$(v))))))

$(BENCH_OUT)/%.elf: $(BENCH_OUT)/%.o $(BENCH_SRC)/guest.ld
	$(BENCH_LD) -m elf_i386 -nostdlib -z max-page-size=0x1000 --no-warn-rwx-segments -T $(BENCH_SRC)/guest.ld -o $@ $<

$(BENCH_OUT)/%.bin: $(BENCH_OUT)/%.elf
	$(BENCH_OBJCOPY) -O binary -j .image $< $@

$(BENCH_OUT)/%.qvmconf: $(BENCH_SRC)/configs/%.qvmconf
	@mkdir -p $(dir $@)
	cp $< $@

$(BIN)/qvm-bench-run: $(OBJ)/$(BENCH_SRC)/run.o
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^

$(BIN)/qvm-bench-kvmloop: $(OBJ)/$(BENCH_SRC)/kvmloop.o
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^

bench-tools: $(BENCH_GUESTS) $(BENCH_TOOLS)

bench-image: $(BIN)/qvm $(addprefix $(VDEVDIR)/vdev-,$(addsuffix .so,$(VDEVS))) $(MKIMAGE) $(BENCH_TOOLS) guest
	$(MKIMAGE) --outroot $(BUILD)/image TOP=$(CURDIR) BUILD=$(abspath $(BUILD)) $(BENCH_SRC)/bench.build

# The image is built by bench.sh (so that a failed image build costs only the
# lane's rows, never the native figures).
bench: $(BIN)/qvm $(addprefix $(VDEVDIR)/vdev-,$(addsuffix .so,$(VDEVS))) bench-tools
	@BUILD=$(BUILD) QUICK=$(QUICK) MAKE="$(MAKE)" bash $(BENCH_SRC)/bench.sh

# qvm-blkbench: the block benchmark inside the test guest (static; put in
# the guest's initramfs by test/guest/guest.build, run by the x86_64 lane's
# blk-perf test and the bench lane's block item).
$(BUILD)/guest-tools/qvm-blkbench: $(BENCH_SRC)/blkbench.c
	@mkdir -p $(dir $@)
	$(CC) -static -O2 -Wall -Wextra -Werror -o $@ $<
guest: $(BUILD)/guest-tools/qvm-blkbench
# qvm-netbench: TCP throughput (guest and the x86_64 lane host; lane test
# net-perf).
$(BUILD)/guest-tools/qvm-netbench: $(BENCH_SRC)/netbench.c
	@mkdir -p $(dir $@)
	$(CC) -static -O2 -Wall -Wextra -Werror -o $@ $<
guest: $(BUILD)/guest-tools/qvm-netbench
