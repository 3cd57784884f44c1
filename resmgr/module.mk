# resmgr/: the resource-manager library (build/lib/libresmgr.a) and its
# Catch2 tests (build/bin/qvm-resmgr-tests from test/resmgr/*.cc).
# Independent of vmm/: depends only on Abseil and libc.
RESMGR_SRCS := resmgr/protocol.cc resmgr/types.cc resmgr/dispatch.cc \
               resmgr/server.cc resmgr/client.cc
RESMGR_LIB := $(LIB)/libresmgr.a
RESMGR_TEST_SRCS := $(wildcard test/resmgr/*.cc)

$(RESMGR_LIB): $(patsubst %.cc,$(OBJ)/%.o,$(RESMGR_SRCS))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BIN)/qvm-resmgr-tests: $(patsubst %.cc,$(OBJ)/%.o,$(RESMGR_TEST_SRCS)) $(CATCH_MAIN) $(RESMGR_LIB)
	@mkdir -p $(dir $@)
	$(CXX) -o $@ $(filter %.o,$^) $(RESMGR_LIB) -Wl,--start-group $(ABSL_LIBS) -Wl,--end-group -lpthread

all: $(RESMGR_LIB)
tests: $(BIN)/qvm-resmgr-tests

# qvm's core (libqvmcore.a) serves /dev/qvm through this library.
CORE_SRCS += $(RESMGR_SRCS)
