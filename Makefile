# qvm — top-level GNU make build.
#   make            qvm, vdev plug-ins, tools and tests (build/)
#   make deps       install the Debian packages the build and tests need
#   make test       native (unit + micro-guests), sanitizer build, fuzzers,
#                   x86_64 lane, aarch64 lane + unit suites
#   make test-native / make test-x86_64 / make test-aarch64   one lane
#   make guest      Debian cloud kernel + busybox initramfs in build/guest/
#   make image      host image from $(BUILDFILE) into build/image/
#   make run        boot the demo guest (directly or in the emulated host)
#   make bench      qvm against its peers (prints figures)
#   make check-sanitize   the tree with ASan+UBSan in build/san and its suites
#                   (also `make test SANITIZE=address,undefined`)
#   make fuzz [FUZZ_SECONDS=N]   build and run every fuzzer (test/fuzz)
# Each folder contributes rules through its module.mk.

# Build in parallel on every core unless the caller chose -j.
ifeq ($(filter -j%,$(MAKEFLAGS)),)
MAKEFLAGS += -j$(shell nproc 2>/dev/null || echo 2)
endif

ARCH     ?= x86_64
BUILDFILE ?= qvm.build
# SANITIZE=address,undefined (any -fsanitize= list): the whole tree, plug-ins
# and tests included, built with those sanitizers into its own tree
# (build/san: its objects never mix with build/'s; its qvm loads the plug-ins
# of build/san/lib/qvm). `make check-sanitize` builds and runs it
# (test/run-tests.sh san); `make test SANITIZE=...` does the same.
SANITIZE ?=
ifneq ($(SANITIZE),)
BUILD    ?= build/san
SAN_FLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -DQVM_SANITIZER_BUILD \
             $(if $(findstring undefined,$(SANITIZE)),-fno-sanitize-recover=undefined)
# -O0 -g1 (line tables: enough for the reports' stack traces) keeps this
# second build of the whole tree cheaper.
OPT      ?= -O0 -g1
endif
# aarch64 is cross-built with Debian's cross toolchain and arm64 multiarch
# -dev packages (make deps ARCH=aarch64) into its own tree, build/aarch64;
# its tests run under qemu-aarch64-static (test/lanes/aarch64/README.md).
ifeq ($(ARCH),aarch64)
BUILD    ?= build/aarch64
CROSS    ?= aarch64-linux-gnu-
CXX      := $(CROSS)g++
CC       := $(CROSS)gcc
PKG_CONFIG ?= PKG_CONFIG_PATH= PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig pkg-config
else
BUILD    ?= build
CXX      ?= g++
CC       ?= gcc
endif
PKG_CONFIG ?= pkg-config
ifneq ($(SANITIZE),)
override CXX := $(CXX) $(SAN_FLAGS)
override CC  := $(CC) $(SAN_FLAGS)
endif

ABSL_PKGS := absl_statusor absl_status absl_strings absl_str_format \
             absl_synchronization absl_flat_hash_map absl_time
WARN     := -Wall -Wextra -Werror
CXXSTD   := -std=c++20
OPT      ?= -O2 -g
DEPFLAGS  = -MMD -MP
INCLUDES := -I. -Isdk/include
CXXFLAGS_ALL = $(CXXSTD) $(OPT) $(WARN) $(DEPFLAGS) $(INCLUDES) -fPIC $(CXXFLAGS)
CFLAGS_ALL   = -std=c11 $(OPT) $(WARN) $(DEPFLAGS) $(INCLUDES) -fPIC $(CFLAGS)
# Abseil is linked statically (its .a archives ship in libabsl-dev) so that
# qvm carries no Abseil runtime dependency into system images.
ABSL_LIBS = $(shell $(PKG_CONFIG) --libs --static $(ABSL_PKGS) 2>/dev/null | \
              sed -e 's/-labsl_\([a-z0-9_]*\)/-l:libabsl_\1.a/g')
LDLIBS_CORE = -Wl,--start-group $(ABSL_LIBS) -Wl,--end-group $(CAPSTONE_LIB) $(FDT_LIB) -ldl -lpthread
# libfdt-dev is not multiarch-installable beside the native one: the arm64
# copy is unpacked into build/aarch64/sysroot by `make deps ARCH=aarch64`
# and linked statically.
ifeq ($(ARCH),aarch64)
FDT_LIB ?= build/aarch64/sysroot/usr/lib/aarch64-linux-gnu/libfdt.a
else
FDT_LIB ?= -lfdt
endif
# Capstone: exit traces dlopen() the shared library on first use (so its
# decoder tables stay out of qvm's resident set); the aarch64 abort decoder
# links it statically.
ifeq ($(ARCH),aarch64)
CAPSTONE_LIB ?= -l:libcapstone.a
else
CAPSTONE_LIB ?=
endif

BIN := $(BUILD)/bin
LIB := $(BUILD)/lib
OBJ := $(BUILD)/obj
VDEVDIR := $(LIB)/qvm
CORE_LIB := $(LIB)/libqvmcore.a
# Catch2's runner (test/catch_main.cc): one object linked into every Catch2
# suite of the tree (flags in test/module.mk).
CATCH_MAIN := $(OBJ)/test/catch_main.o

.PHONY: all deps test test-native test-x86_64 test-aarch64 guest image run bench clean install
all:

# Sources of the qvm core library (everything but main), filled by modules.
CORE_SRCS :=
TOOLS :=
TEST_SRCS :=
VDEVS :=

include vmm/module.mk
include boot/module.mk
include arch/module.mk
include resmgr/module.mk
include vdev/module.mk
include tools/module.mk
include test/module.mk

# The build-side tools (qvm-mkimage) run on the build machine: the x86_64
# build makes them; an aarch64 build uses those.
ifeq ($(ARCH),aarch64)
TOOLS :=
endif

CORE_OBJS := $(patsubst %.cc,$(OBJ)/%.o,$(sort $(CORE_SRCS)))

$(OBJ)/%.o: %.cc
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS_ALL) -c $< -o $@
$(OBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(CORE_LIB): $(CORE_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

all: $(BIN)/qvm $(addprefix $(VDEVDIR)/vdev-,$(addsuffix .so,$(VDEVS))) $(TOOLS) tests

# `make test` runs the x86_64 and the aarch64 lanes, so plain `make deps`
# installs what both need; `make deps ARCH=aarch64` only the aarch64 part.
DEPS_ARCHES ?= $(if $(filter aarch64,$(ARCH)),aarch64,x86_64 aarch64)
deps:
	@for a in $(DEPS_ARCHES); do bash test/deps.sh $$a || exit 1; done

# make install PREFIX=DIR: qvm, qvmctl, the plug-ins, the SDK header and its
# pkg-config file. qvm finds its plug-ins in ../lib/qvm beside itself.
PREFIX ?= /usr/local
VDEV_ABI_VERSION := $(shell sed -n 's/^\#define QVM_VDEV_ABI_MAJOR \([0-9]*\)/\1/p' sdk/include/qvm/vdev.h).$(shell sed -n 's/^\#define QVM_VDEV_ABI_MINOR \([0-9]*\)/\1/p' sdk/include/qvm/vdev.h)
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/qvm \
	  $(DESTDIR)$(PREFIX)/include/qvm $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 0755 $(BIN)/qvm $(DESTDIR)$(PREFIX)/bin/qvm
	if [ -x $(BIN)/qvmctl ]; then install -m 0755 $(BIN)/qvmctl $(DESTDIR)$(PREFIX)/bin/qvmctl; fi
	install -m 0755 $(BIN)/qvm-shm $(DESTDIR)$(PREFIX)/bin/qvm-shm
	install -m 0755 $(VDEVDIR)/vdev-*.so $(DESTDIR)$(PREFIX)/lib/qvm/
	install -m 0644 sdk/include/qvm/vdev.h $(DESTDIR)$(PREFIX)/include/qvm/vdev.h
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VDEV_ABI_VERSION)|g' \
	  sdk/qvm-vdev.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/qvm-vdev.pc

clean:
	rm -rf $(BUILD)/bin $(BUILD)/lib $(BUILD)/obj $(BUILD)/image

-include $(shell find $(OBJ) -name '*.d' 2>/dev/null)
