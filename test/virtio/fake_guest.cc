// See fake_guest.h.
#include "fake_guest.h"

FakeGuest::FakeGuest()
    : h(fake::Host::get()),
      dev((h.reset(), h.attach("dev"))),
      ram(h.ram),
      logs(dev->logs),
      msis(dev->msis),
      pci_state(dev->pci_state),
      bad_accesses(h.bad_accesses),
      notify_ok(h.notify_ok),
      vcpus(h.vcpus),
      runtime_dir(h.runtime_dir),
      notes(h.notes),
      watches(dev->watches),
      declared(dev->pci) {}

FakeGuest::~FakeGuest() { h.reset(); }

void FakeGuest::mmio(uint64_t base, bool intr) {
  dev->locs = {{QVM_SPACE_MEM, base}};
  dev->intrs.clear();
  if (intr) dev->intrs.push_back({"gic", 0});
  dev->intrs_configured = intr;
  dev->intr_level.resize(dev->intrs.size());
  dev->intr_log.resize(dev->intrs.size());
}

int FakeGuest::intx() const {
  return dev->intr_level.empty() ? 0 : dev->intr_level[0];
}

int FakeGuest::intx_raises() const { return dev->raises(0); }

int FakeGuest::pump(void* state) {
  dev->state = state;
  return h.pump();
}
