# tools/qvmctl/: build/bin/qvmctl, the command-line client of /dev/qvm. It
# runs on the target beside qvm, so unlike the build-side TOOLS it is built
# for every ARCH. Links the resmgr client and Abseil only (vmm/control_proto.h
# is header-only).
QVMCTL_OBJS := $(OBJ)/tools/qvmctl/qvmctl.o
$(BIN)/qvmctl: $(QVMCTL_OBJS) $(LIB)/libresmgr.a
	@mkdir -p $(dir $@)
	$(CXX) -o $@ $(QVMCTL_OBJS) $(LIB)/libresmgr.a -Wl,--start-group $(ABSL_LIBS) -Wl,--end-group -lpthread
all: $(BIN)/qvmctl
