# Micro-guests (test/microguests): tiny 32-bit x86 guests, one per trap path,
# built as flat images linked at 0x100000 (qvm loads unrecognised images raw
# and enters them at their first byte), plus the KVM probe the runner uses.
#
#   make microguests         images, configs and build/bin/qvm-kvm-probe
#   make check-microguests   run the table (test/microguests/run.sh)
#
# Outputs:
#   $(BUILD)/microguests/NAME.bin      flat image (from NAME.s)
#   $(BUILD)/microguests/NAME.elf      same, with symbols (objdump -d)
#   $(BUILD)/microguests/NAME.qvmconf  config (copied from configs/, loads
#                                      NAME.bin from its own directory)
#   $(BIN)/qvm-kvm-probe               exit 0 iff /dev/kvm can run a guest
# Only binutils (as --32, ld -m elf_i386, objcopy) is needed: no 32-bit libc.

MG_SRC := test/microguests
MG_OUT := $(BUILD)/microguests
MG_AS      ?= as
MG_LD      ?= ld
MG_OBJCOPY ?= objcopy

MG_NAMES := $(sort $(basename $(notdir $(wildcard $(MG_SRC)/*.s))))
MG_BINS  := $(patsubst %,$(MG_OUT)/%.bin,$(MG_NAMES))
MG_CONFS := $(patsubst $(MG_SRC)/configs/%,$(MG_OUT)/%,$(wildcard $(MG_SRC)/configs/*.qvmconf))
MG_PROBE := $(BIN)/qvm-kvm-probe

MICROGUESTS := $(MG_BINS) $(MG_CONFS) $(MG_PROBE)

.PHONY: microguests check-microguests
microguests: $(MICROGUESTS)

.PRECIOUS: $(MG_OUT)/%.o $(MG_OUT)/%.elf

$(MG_OUT)/%.o: $(MG_SRC)/%.s $(wildcard $(MG_SRC)/*.inc)
	@mkdir -p $(dir $@)
	$(MG_AS) --32 --fatal-warnings -I $(MG_SRC) -o $@ $<

$(MG_OUT)/%.elf: $(MG_OUT)/%.o $(MG_SRC)/guest.ld
	$(MG_LD) -m elf_i386 -nostdlib -T $(MG_SRC)/guest.ld -o $@ $<

$(MG_OUT)/%.bin: $(MG_OUT)/%.elf
	$(MG_OBJCOPY) -O binary -j .image $< $@

$(MG_OUT)/%.qvmconf: $(MG_SRC)/configs/%.qvmconf
	@mkdir -p $(dir $@)
	cp $< $@

$(MG_PROBE): $(OBJ)/$(MG_SRC)/kvm-probe.o
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^

# Needs qvm and the plug-ins; run.sh reports SKIP when /dev/kvm is unusable.
check-microguests: $(MICROGUESTS) $(BIN)/qvm $(addprefix $(VDEVDIR)/vdev-,$(addsuffix .so,$(VDEVS)))
	@BUILD=$(BUILD) bash $(MG_SRC)/run.sh
