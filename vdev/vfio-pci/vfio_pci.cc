// vfio-pci: a host PCI function given to the guest through Linux VFIO.
// qvm instantiates it for each `pass loc pci:SPEC` with the option `host
// SPEC` (vmm/passthrough.cc); `vdev vfio-pci host SPEC` is the same. The
// function sits on qvm's PCI host like any emulated one: the PCI host
// serves its configuration space from the description (pass_fn.h), BAR
// accesses reach this plug-in and go to the device.
#include <qvm/vdev.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "host_lookup.h"
#include "pass_fn.h"

namespace {

struct State {
  vfiopci::Sys* sys;
  vfiopci::PassFn* fn;
  vfiopci::HostSpec spec;
  bool have_spec;
  unsigned boots;
  char host[96];
};

int Fail(qvm_vdev_t* dev, int err, const std::string& why) {
  qvm_log(dev, QVM_LOG_ERROR, "%s", why.c_str());
  return -err;
}

int OptionsEnd(qvm_vdev_t* dev, State* s) {
  if (!s->have_spec)
    return Fail(dev, EINVAL, "needs `host BUS:DEV.FN` or `host VID/DID[/INDEX]` (the host "
                             "function to pass through)");
  vfiopci::HostDevice hd;
  int err = 0;
  std::string why = vfiopci::FindHostDevice("/sys", s->spec, &hd, &err);
  if (!why.empty()) return Fail(dev, err, why);
  s->sys = vfiopci::NewLinuxSys();
  if (!s->sys) return -ENOMEM;
  s->fn = new (std::nothrow) vfiopci::PassFn(*s->sys);
  if (!s->fn) return -ENOMEM;
  why = s->fn->open(hd, &err);
  if (!why.empty()) return Fail(dev, err ? err : EIO, why);
  qvm_pci_function f;
  std::vector<std::string> notes;
  why = s->fn->describe(&f, &notes);
  if (!why.empty()) return Fail(dev, ENOTSUP, why);
  for (const auto& n : notes) qvm_log(dev, QVM_LOG_INFO, "%s: %s", hd.bdf.c_str(), n.c_str());
  int addr = qvm_pci_declare(dev, &f);
  if (addr < 0) return Fail(dev, -addr, hd.bdf + ": qvm's PCI host refuses its description");
  if (f.intx_pin && qvm_intr_count(dev) == 0)
    qvm_intr_default(dev, "pci-host", QVM_PCI_INTX_LINE((unsigned(addr) >> 3) & 31, f.intx_pin));
  qvm_log(dev, QVM_LOG_INFO, "%s (%04x:%04x) passed through as %02x:%02x.%x", hd.bdf.c_str(),
          f.vendor_id, f.device_id, addr >> 8, (addr >> 3) & 31, addr & 7);
  return 0;
}

int Control(qvm_vdev_t* dev, void* state, unsigned ctrl, int arg, const char* value) {
  auto* s = static_cast<State*>(state);
  switch (ctrl) {
    case QVM_CTRL_OPTIONS_START:
      return 0;
    case QVM_CTRL_OPTION: {
      if (arg != 0 || !value) return -EINVAL;
      std::string why = vfiopci::ParseHostSpec(value, &s->spec);
      if (!why.empty()) return Fail(dev, EINVAL, std::string("host `") + value + "`: " + why);
      strncpy(s->host, value, sizeof s->host - 1);
      s->have_spec = true;
      return 0;
    }
    case QVM_CTRL_OPTIONS_END:
      return OptionsEnd(dev, s);
    case QVM_CTRL_RESOURCES: {
      if (!s->fn) return -EINVAL;
      std::string why = s->fn->map_dma(dev);
      return why.empty() ? 0 : Fail(dev, ENOMEM, why);
    }
    case QVM_CTRL_GUEST_CONFIGURED:
      if (s->fn) s->fn->prepare(dev);
      return 0;
    case QVM_CTRL_RESET:
      if (!s->fn) return 0;
      // Guest RAM gets new pages when qvm zeroes it for a reset in place:
      // the DMA mappings of the first boot would point at the old ones.
      if (s->boots++ > 0) {
        std::string why = s->fn->map_dma(dev);
        if (!why.empty()) qvm_log(dev, QVM_LOG_ERROR, "%s", why.c_str());
      }
      s->fn->reset(dev);
      return 0;
    case QVM_CTRL_STATUS:
      if (s->fn) qvm_log(dev, QVM_LOG_INFO, "%s", s->fn->status().c_str());
      return 0;
    case QVM_CTRL_TERMINATE:
      if (s->fn) {
        s->fn->terminate(dev);
        delete s->fn;
        s->fn = nullptr;
      }
      delete s->sys;
      s->sys = nullptr;
      return 0;
    default:
      return 0;
  }
}

int Read(qvm_vdev_t* dev, void* state, const struct qvm_access* acc, void* data) {
  auto* s = static_cast<State*>(state);
  if (!s->fn || acc->space != QVM_SPACE_MEM) return QVM_BUS_ERROR;
  return s->fn->read(dev, acc->region, acc->offset, acc->size, data);
}

int Write(qvm_vdev_t* dev, void* state, const struct qvm_access* acc, void* data) {
  auto* s = static_cast<State*>(state);
  if (!s->fn || acc->space != QVM_SPACE_MEM) return QVM_BUS_ERROR;
  return s->fn->write(dev, acc->region, acc->offset, acc->size, data);
}

const char* const kOptions[] = {"host", nullptr};

const qvm_factory kFactory = {
    .abi_major = QVM_VDEV_ABI_MAJOR,
    .abi_minor = QVM_VDEV_ABI_MINOR,
    .struct_size = sizeof(qvm_factory),
    .name = "vfio-pci",
    .description = "a host PCI function passed through with Linux VFIO (`pass loc pci:...`)",
    .flags = QVM_VDEVF_SPACE_PCI,
    .access_sizes = QVM_ACCESS_1 | QVM_ACCESS_2 | QVM_ACCESS_4 | QVM_ACCESS_8,
    .options = kOptions,
    .state_size = sizeof(State),
    .control = Control,
    .read = Read,
    .write = Write,
    .pic = nullptr,
    .version = "1.0",
    .option_flags = nullptr,
    .thread_syscalls = nullptr,  // no threads of its own: interrupts come through qvm's fd watches and irqfds
};

__attribute__((constructor)) void Register() { qvm_register_factory(&kFactory); }

}  // namespace
