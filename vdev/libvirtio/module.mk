# vdev/libvirtio: static helper library linked into every vdev-virtio-*.so
# (vdev/module.mk skips lib* folders). Plug-in objects: position independent.
LIBVIRTIO := $(LIB)/libvirtio.a
LIBVIRTIO_OBJS := $(patsubst vdev/%.c,$(OBJ)/vdev/%.pic.o,$(wildcard vdev/libvirtio/*.c))

$(LIBVIRTIO): $(LIBVIRTIO_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# Every virtio vdev links it (appended after its own objects).
$(foreach v,$(filter virtio-%,$(VDEVS)),$(eval $(VDEVDIR)/vdev-$(v).so: $(LIBVIRTIO)))
$(foreach v,$(filter virtio-%,$(VDEVS)),$(eval $(OBJ)/vdev/$(v)/%.pic.o: VDEV_CFLAGS += -Ivdev/libvirtio))

# Unit tests: test/virtio/*.cc against a fake guest memory and fake host.
VIRTIO_TEST_SRCS := $(wildcard test/virtio/*.cc)
$(BIN)/qvm-virtio-tests: $(patsubst %.cc,$(OBJ)/%.o,$(VIRTIO_TEST_SRCS)) $(LIBVIRTIO_OBJS)
	@mkdir -p $(dir $@)
	$(CXX) -o $@ $^ -lpthread
$(OBJ)/test/virtio/%.o: CXXFLAGS += -Ivdev/libvirtio
tests: $(BIN)/qvm-virtio-tests
# blk_lock_test.cc runs `qvm dryrun` with the virtio-blk plug-in.
$(BIN)/qvm-virtio-tests: | $(BIN)/qvm $(VDEVDIR)/vdev-virtio-blk.so
# virtio-blk's request path (blk_test.cc) is linked in and driven directly.
$(BIN)/qvm-virtio-tests: $(OBJ)/vdev/virtio-blk/virtio_blk.pic.o
# virtio-net's frame path (vdev/virtio-net/net_core.c: no plug-in glue) is
# unit-tested here too (test/virtio/net_*_test.cc).
$(BIN)/qvm-virtio-tests: $(OBJ)/vdev/virtio-net/net_core.pic.o
# ... and its plug-in glue (virtio_net.c: notify eventfd|exit, backends),
# driven through its factory by net_notify_test.cc.
$(BIN)/qvm-virtio-tests: $(OBJ)/vdev/virtio-net/virtio_net.pic.o
$(OBJ)/test/virtio/%.o: CXXFLAGS += -Ivdev/virtio-net
