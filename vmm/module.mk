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

# Exported to plug-ins: the SDK's qvm_* functions only (qvm.dynlist).
# libstdc++ is linked in (the parts qvm uses), not loaded whole: it was
# 1.4 MiB of qvm's resident set; plug-ins written in C++ name libstdc++.so
# themselves (their own DT_NEEDED) and load it when configured. Not in a
# sanitizer build (the sanitizers' runtime replaces operator new/delete).
QVM_STATIC_CXX := $(if $(SANITIZE),,-static-libstdc++)
$(BIN)/qvm: $(QVM_MAIN_OBJ) $(CORE_LIB) vmm/qvm.dynlist
	@mkdir -p $(dir $@)
	$(CXX) -Wl,--dynamic-list=vmm/qvm.dynlist $(QVM_STATIC_CXX) -o $@ $(QVM_MAIN_OBJ) -Wl,--whole-archive $(CORE_LIB) -Wl,--no-whole-archive $(LDLIBS_CORE)
