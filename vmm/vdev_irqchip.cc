// Interrupt controllers: a device that is one (pic operations), the CPU's
// external interrupt, a controller modelled by the accelerator, and one the
// device emulates itself with per-vCPU inputs.
#include <cerrno>

#include "vmm/vdev_host.h"

bool qvm_vdev::is_pic() const {
  return (factory->flags & QVM_VDEVF_PIC) && factory->pic;
}

int qvm_vdev::pic_set_line(unsigned line, int level) {
  if (!is_pic() || !factory->pic->set_line) return -EINVAL;
  std::lock_guard<std::mutex> g(mu);
  return factory->pic->set_line(this, state, line, level ? 1 : 0);
}

unsigned qvm_vdev::pic_line_count() {
  if (!is_pic() || !factory->pic->line_count) return 0;
  std::lock_guard<std::mutex> g(mu);
  return factory->pic->line_count(this, state);
}

void qvm_vdev::pic_eoi(unsigned vector) {
  if (!is_pic() || !factory->pic->eoi) return;
  std::lock_guard<std::mutex> g(mu);
  factory->pic->eoi(this, state, vector);
}

int qvm_vdev::pic_inta() {
  if (!is_pic() || !factory->pic->inta) return -1;
  std::lock_guard<std::mutex> g(mu);
  return factory->pic->inta(this, state);
}

QVM_EXPORT int qvm_cpu_extint(qvm_vdev_t* dev, int level) {
  if (!dev || !dev->is_pic()) return -EINVAL;
  return dev->host->cpu_extint(dev, level != 0);
}

QVM_EXPORT int qvm_irqchip_accel(qvm_vdev_t* dev, unsigned kind,
                                                             unsigned nirqs) {
  if (!dev) return -EINVAL;
  if (kind != QVM_IRQCHIP_GICV2 && kind != QVM_IRQCHIP_GICV3) return -EINVAL;
  if (nirqs < 64 || nirqs > 1024 || nirqs % 32) return -EINVAL;
  if (dev->regions.size() < 2) return -EINVAL;
  if (!dev->host->irqchip_supported(kind)) return -ENOTSUP;
  if (dev->irqchip.kind) return -EEXIST;  // (a second one per VM: the machine refuses it)
  for (qvm_vdev* o : dev->host->all_devices())
    if (o != dev && o->irqchip.user) return -EEXIST;
  dev->irqchip.kind = kind;
  dev->irqchip.nirqs = nirqs;
  return 0;
}

QVM_EXPORT int qvm_irqchip_line(qvm_vdev_t* dev, unsigned intid,
                                                            int level) {
  if (!dev) return -EINVAL;
  if (!dev->irqchip.kind || dev->irqchip.user) return -ENOTSUP;
  if (intid < 32 || intid >= dev->irqchip.nirqs) return -EINVAL;
  return dev->host->irqchip_line(intid, level != 0);
}

// An interrupt controller emulated by the device itself.
QVM_EXPORT int qvm_irqchip_user(qvm_vdev_t* dev, unsigned kind,
                                                            qvm_vcpu_outputs_fn outputs) {
  if (!dev) return -EINVAL;
  if (kind != QVM_IRQCHIP_GICV2 && kind != QVM_IRQCHIP_GICV3) return -EINVAL;
  if (dev->regions.size() < 2) return -EINVAL;
  if (dev->host->guest_running()) return -EBUSY;
  if (!dev->host->user_irqchip_supported(kind)) return -ENOTSUP;
  if (dev->irqchip.kind) return -EEXIST;
  for (qvm_vdev* o : dev->host->all_devices())
    if (o != dev && o->irqchip.kind) return -EEXIST;
  dev->irqchip.kind = kind;
  dev->irqchip.user = true;
  dev->irqchip.outputs = outputs;
  return 0;
}

QVM_EXPORT int qvm_vcpu_irq(qvm_vdev_t* dev, unsigned vcpu,
                                                        unsigned input, int level) {
  if (!dev) return -EINVAL;
  if (!dev->irqchip.user) return -EPERM;
  if (input != QVM_CPU_IRQ && input != QVM_CPU_FIQ) return -EINVAL;
  return dev->host->vcpu_irq(vcpu, input, level != 0);
}
