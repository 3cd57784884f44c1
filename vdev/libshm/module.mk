# vdev/libshm: shared-memory regions (qvm_shm.h), a static library linked
# into vdev-shmem.so (vdev/module.mk skips lib* folders) and into the host
# tool build/bin/qvm-shm. Objects are position independent.
LIBSHM := $(LIB)/libqvmshm.a
LIBSHM_OBJS := $(OBJ)/vdev/libshm/qvm_shm.pic.o

$(LIBSHM): $(LIBSHM_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(VDEVDIR)/vdev-shmem.so: $(LIBSHM)
$(OBJ)/vdev/shmem/%.pic.o: VDEV_CFLAGS += -Ivdev/libshm

# The host side: create/attach/notify from a host program or a script. It
# runs on the target beside qvm (like qvmctl), so it is built for every ARCH.
$(BIN)/qvm-shm: $(OBJ)/vdev/libshm/qvm_shm_tool.pic.o $(LIBSHM)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^
all: $(BIN)/qvm-shm

# The vdev tests (test/vdev/shmem_test.cc) drive the plug-in and act as a
# host program's client through the library.
$(BIN)/qvm-vdev-tests: $(LIBSHM)
$(OBJ)/test/vdev/shmem_test.o: CXXFLAGS += -Ivdev/libshm
