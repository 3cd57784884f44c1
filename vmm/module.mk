# vmm/: the VM manager core (libqvmcore.a) and qvm's main().
CORE_SRCS += vmm/log.cc vmm/guest_memory.cc vmm/bus.cc vmm/exit.cc vmm/unsupported.cc \
             vmm/event_loop.cc vmm/vm.cc vmm/config.cc \
             vmm/exit_trace.cc vmm/control.cc vmm/dump.cc vmm/vm_control.cc \
             vmm/vdev_loader.cc vmm/vdev_instance.cc vmm/vdev_resources.cc vmm/vdev_pci.cc \
             vmm/vdev_describe.cc vmm/vdev_irqchip.cc vmm/vdev_streams.cc vmm/vdev_notify.cc vmm/vdev_memmap.cc vmm/vdev_threads.cc vmm/passthrough.cc \
             vmm/vars.cc vmm/vm_plan.cc vmm/cpu_model.cc vmm/gdb_packet.cc vmm/gdb_server.cc vmm/vm_gdb.cc \
             vmm/syscall_filter.cc vmm/spawner.cc vmm/privileges.cc
QVM_MAIN_OBJ := $(OBJ)/vmm/main.o

$(OBJ)/vmm/vdev_loader.o: CXXFLAGS += -DQVM_BUILD_VDEV_DIR='"$(abspath $(VDEVDIR))"'

$(BIN)/qvm: $(QVM_MAIN_OBJ) $(CORE_LIB)
	@mkdir -p $(dir $@)
	$(CXX) -rdynamic -o $@ $(QVM_MAIN_OBJ) -Wl,--whole-archive $(CORE_LIB) -Wl,--no-whole-archive $(LDLIBS_CORE)
