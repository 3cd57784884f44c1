# Tests.
#   build/bin/qvm-unit-tests   Catch2: test/unit/*.cc against libqvmcore
#   build/bin/qvm-vdev-tests   Catch2: test/vdev/*.cc with the fake host
#                              (test/fakehost) that loads the real vdev-*.so
#                              plug-ins
#   build/bin/qvm-virtio-tests Catch2: test/virtio/*.cc (rules in
#                              vdev/libvirtio/module.mk) with the same fake
#                              host, libvirtio and device objects linked in
#   micro-guests               test/microguests (module.mk there)
UNIT_SRCS := $(wildcard test/unit/*.cc)
# Test code is compiled for compile time, not speed: -O1 with line tables
# halves the compiler's time on a Catch2 file against -O2 -g, and the
# runner itself needs neither (it is a third of the tree's compile time at
# -O2 -g). The code under test keeps the tree's flags. A sanitizer build
# keeps its own (-O0 -g1) everywhere.
ifeq ($(SANITIZE),)
$(OBJ)/test/%.o: OPT = -O1 -g1
$(OBJ)/tools/mkimage/test/%.o: OPT = -O1 -g1
endif
$(CATCH_MAIN): OPT = -O0 -g0
FAKEHOST_OBJS := $(patsubst %.cc,$(OBJ)/%.o,$(wildcard test/fakehost/*.cc))
VDEVTEST_SRCS := $(wildcard test/vdev/*.cc)

# The A64 load/store decoder (arch/aarch64/a64_decode.cc, Capstone) is a
# plain function tested on every host; the aarch64 core has it already.
ifneq ($(ARCH),aarch64)
UNIT_SRCS += arch/aarch64/a64_decode.cc
endif

$(BIN)/qvm-unit-tests: $(patsubst %.cc,$(OBJ)/%.o,$(UNIT_SRCS)) $(CATCH_MAIN) $(CORE_LIB)
	@mkdir -p $(dir $@)
	$(CXX) -rdynamic -o $@ $(filter %.o,$^) $(CORE_LIB) $(LDLIBS_CORE) -lcapstone

$(BIN)/qvm-vdev-tests: $(patsubst %.cc,$(OBJ)/%.o,$(VDEVTEST_SRCS)) $(FAKEHOST_OBJS) $(CATCH_MAIN)
	@mkdir -p $(dir $@)
	$(CXX) -rdynamic -o $@ $^ -ldl -lpthread
# The virtio tests' recipe links all its prerequisites.
$(BIN)/qvm-virtio-tests: $(FAKEHOST_OBJS) $(CATCH_MAIN)

#   build/bin/qvm-vfio-tests   Catch2: test/vfio/*.cc, the vfio-pci plug-in's
#                              objects (not its factory glue) on a fake VFIO
#                              device and the fake host
VFIO_TEST_SRCS := $(wildcard test/vfio/*.cc)
VFIO_PLUGIN_OBJS := $(patsubst vdev/%.cc,$(OBJ)/vdev/%.pic.o,$(filter-out %/vfio_pci.cc,$(wildcard vdev/vfio-pci/*.cc)))
$(BIN)/qvm-vfio-tests: $(patsubst %.cc,$(OBJ)/%.o,$(VFIO_TEST_SRCS)) $(VFIO_PLUGIN_OBJS) $(FAKEHOST_OBJS) $(CATCH_MAIN)
	@mkdir -p $(dir $@)
	$(CXX) -o $@ $^ -lpthread
tests: $(BIN)/qvm-vfio-tests

# The micro-guests are x86 guests (arm64 ones: not yet).
ifneq ($(ARCH),aarch64)
-include test/microguests/module.mk
endif
-include test/lanes/module.mk

.PHONY: tests
tests: $(BIN)/qvm-unit-tests $(BIN)/qvm-vdev-tests $(MICROGUESTS)

# CI's `make test` also runs the sanitizer build's suites (run-tests.sh
# lane san) and every fuzzer for a short time (lane fuzz). `make test
# SANITIZE=...` is the sanitizer part alone on that build.
# run-tests.sh all builds the sanitizer tree and the fuzzers itself, beside
# the lanes (`+`: its makes share this make's job slots).
ifeq ($(SANITIZE),)
test: all
	+@bash test/run-tests.sh all
else
test: all
	@bash test/run-tests.sh san
endif
# The sanitizer tree (build/san, ASan+UBSan unless SANITIZE says otherwise):
# what the micro-guest, /dev/qvm and SDK suites run first, then the rest.
SAN_DEFAULT := address,undefined
SAN_LIST := $(if $(SANITIZE),$(SANITIZE),$(SAN_DEFAULT))
.PHONY: sanitize-build check-sanitize san-runtime
san-runtime: $(BIN)/qvm $(BIN)/qvmctl $(BIN)/qvm-shm $(addprefix $(VDEVDIR)/vdev-,$(addsuffix .so,$(VDEVS))) $(MICROGUESTS)
sanitize-build:
	@$(MAKE) --no-print-directory SANITIZE=$(SAN_LIST) BUILD=build/san san-runtime
	@$(MAKE) --no-print-directory SANITIZE=$(SAN_LIST) BUILD=build/san all
check-sanitize: sanitize-build
	@SANITIZE=$(SAN_LIST) bash test/run-tests.sh san
test-native: all
	@bash test/run-tests.sh native
test-x86_64: all
	@bash test/run-tests.sh x86_64
# The aarch64 lane builds its own tree (make ARCH=aarch64) and host image.
test-aarch64: all
	@bash test/run-tests.sh aarch64
-include test/bench/module.mk
-include test/fuzz/module.mk
