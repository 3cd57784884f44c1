# Fuzzers (libFuzzer, Debian's clang): test/fuzz/NAME_fuzz.cc ->
# build/fuzz/bin/NAME-fuzz, run on the seed corpus test/fuzz/corpus/NAME by
# test/fuzz/run.sh. Their own tree (build/fuzz): every object here is built
# by clang with -fsanitize=fuzzer-no-link,address,undefined, never mixed with
# build/'s. Each fuzzer lists the qvm sources it links (FUZZ_SRCS_NAME).
#   make fuzzers                 build them
#   make fuzz [FUZZ_SECONDS=N]   build and run each for N seconds (default 30)
FUZZ_BUILD := build/fuzz
FUZZ_OBJ   := $(FUZZ_BUILD)/obj
FUZZ_BIN   := $(FUZZ_BUILD)/bin
FUZZ_CXX   ?= clang++
FUZZ_CC    ?= clang
FUZZ_SAN   := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CXXFLAGS = $(CXXSTD) -O1 -g $(WARN) $(DEPFLAGS) $(INCLUDES) $(FUZZ_SAN) -fsanitize=fuzzer-no-link
FUZZ_CFLAGS   = -std=c11 -O1 -g $(WARN) $(DEPFLAGS) $(INCLUDES) -Ivdev/libvirtio $(FUZZ_SAN) -fsanitize=fuzzer-no-link
FUZZ_SECONDS ?= 30
FUZZ_NAMES := $(patsubst test/fuzz/%_fuzz.cc,%,$(wildcard test/fuzz/*_fuzz.cc))

FUZZ_SRCS_config     := vmm/config.cc vmm/vars.cc vmm/vm_plan.cc arch/vars.cc \
                        arch/x86_64/plan.cc arch/aarch64/plan.cc vmm/log.cc vmm/unsupported.cc
FUZZ_SRCS_gdb_packet := vmm/gdb_packet.cc
FUZZ_SRCS_resmgr     := resmgr/protocol.cc
FUZZ_SRCS_resmgr_server := resmgr/protocol.cc resmgr/dispatch.cc resmgr/server.cc resmgr/types.cc
FUZZ_SRCS_a64_decode := arch/aarch64/a64_decode.cc
FUZZ_LIBS_a64_decode := -lcapstone
FUZZ_BOOT_SRCS       := boot/image_file.cc boot/elf.cc vmm/guest_memory.cc
FUZZ_SRCS_boot_x86   := $(FUZZ_BOOT_SRCS) boot/x86.cc boot/bsd.cc
FUZZ_SRCS_boot_arm64 := $(FUZZ_BOOT_SRCS) boot/arm64.cc
FUZZ_SRCS_fdt        := $(FUZZ_BOOT_SRCS) boot/fdt.cc
FUZZ_LIBS_fdt        := -lfdt
FUZZ_SRCS_acpi       := $(FUZZ_BOOT_SRCS) boot/acpi.cc boot/aml.cc
FUZZ_SRCS_virtq      := vdev/libvirtio/virtio.c test/fakehost/fake_host.cc test/virtio/fake_guest.cc
FUZZ_LIBS_virtq      := -ldl
FUZZ_SRCS_virtio_dev := $(FUZZ_SRCS_virtq) vdev/virtio-blk/virtio_blk.c \
                        vdev/virtio-console/virtio_console.c vdev/virtio-entropy/virtio_entropy.c
FUZZ_LIBS_virtio_dev := -ldl
FUZZ_SRCS_virtio_net := $(FUZZ_SRCS_virtq) vdev/virtio-net/virtio_net.c vdev/virtio-net/net_core.c
FUZZ_LIBS_virtio_net := -ldl
FUZZ_SRCS_fwcfg_dma  := test/fakehost/fake_host.cc vdev/fw-cfg/fw_cfg.c
FUZZ_LIBS_fwcfg_dma  := -ldl
$(FUZZ_OBJ)/test/fuzz/virtq_fuzz.o $(FUZZ_OBJ)/test/fuzz/virtio_dev_fuzz.o \
$(FUZZ_OBJ)/test/fuzz/virtio_net_fuzz.o \
$(FUZZ_OBJ)/test/virtio/fake_guest.o: FUZZ_CXXFLAGS += -Ivdev/libvirtio
$(FUZZ_OBJ)/test/fuzz/virtio_net_fuzz.o: FUZZ_CXXFLAGS += -Ivdev/virtio-net

$(FUZZ_OBJ)/%.o: %.cc
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -c $< -o $@
$(FUZZ_OBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@

define fuzz_rule
$(FUZZ_BIN)/$(1)-fuzz: $(FUZZ_OBJ)/test/fuzz/$(1)_fuzz.o $(patsubst %,$(FUZZ_OBJ)/%.o,$(basename $(FUZZ_SRCS_$(1))))
	@mkdir -p $$(dir $$@)
	$$(FUZZ_CXX) $(FUZZ_SAN) -fsanitize=fuzzer -o $$@ $$^ -Wl,--start-group $$(ABSL_LIBS) -Wl,--end-group $$(FUZZ_LIBS_$(1)) -lpthread
endef
$(foreach f,$(FUZZ_NAMES),$(eval $(call fuzz_rule,$(f))))

.PHONY: fuzzers fuzz
fuzzers: $(patsubst %,$(FUZZ_BIN)/%-fuzz,$(FUZZ_NAMES))
fuzz: fuzzers
	@FUZZ_SECONDS=$(FUZZ_SECONDS) bash test/fuzz/run.sh

-include $(shell find $(FUZZ_OBJ) -name '*.d' 2>/dev/null)
