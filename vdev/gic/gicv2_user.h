/*
 * The user-space GICv2 of `vdev gic mode user`: distributor and
 * memory-mapped CPU interface for up to 8 vCPUs, no Security Extensions (all
 * interrupts group 0, signalled as IRQ, or FIQ with GICC_CTLR.FIQEn), no
 * virtualization extensions. Interrupt IDs 0..GICV2_NIRQS-1: SGIs 0-15 and
 * PPIs 16-31 banked per CPU, SPIs 32 up. Five priority bits (0xf8).
 * The vCPUs' IRQ/FIQ inputs are driven with qvm_vcpu_irq (ABI 1.3).
 */
#ifndef QVM_GICV2_USER_H
#define QVM_GICV2_USER_H

#include <qvm/vdev.h>

#define GICV2_MAXCPU 8
#define GICV2_NIRQS 256u
#define GICV2_PRIO_MASK 0xf8u
#define GICV2_SPURIOUS 1023u
/* Active-priority stack depth: each nested activation has a strictly
 * higher group priority, and there are 32 of those (5 bits). */
#define GICV2_ACT_DEPTH 33

struct gicv2_irq {
    uint8_t enabled;
    uint8_t pend;    /* latched pending (edge, or a write to ISPENDR) */
    uint8_t active;
    uint8_t level;   /* input line (level-sensitive interrupts stay pending) */
    uint8_t prio;
    uint8_t edge;    /* ICFGR: 1 edge-triggered, 0 level-sensitive */
    uint8_t target;  /* SPIs: ITARGETSR CPU mask */
};

struct gicv2_cpu {
    uint32_t ctlr, pmr, bpr, abpr;
    unsigned nact;
    uint16_t act_id[GICV2_ACT_DEPTH];
    uint8_t act_prio[GICV2_ACT_DEPTH]; /* group priority at activation */
    int driven[2];  /* IRQ/FIQ level last driven, -1 unknown */
};

struct gicv2 {
    unsigned ncpu;
    uint32_t ctlr;
    struct gicv2_irq priv[GICV2_MAXCPU][32];
    struct gicv2_irq spi[GICV2_NIRQS - 32];
    uint8_t sgi_src[GICV2_MAXCPU][16]; /* pending SGI source CPUs per target */
    struct gicv2_cpu cpu[GICV2_MAXCPU];
    unsigned long long spurious_eoi; /* EOIs of IDs that were not active */
};

/* Power-on state; vCPU inputs are assumed low (a new guest run). */
void gicv2_reset(struct gicv2 *g, unsigned ncpu);
/* Register accesses from vCPU `cpu` (region 0: distributor, 4 KiB; region
 * 1: CPU interface, 8 KiB). Return a QVM_* status. */
int gicv2_dist_read(qvm_vdev_t *dev, struct gicv2 *g, unsigned cpu, uint64_t off,
                    unsigned size, uint32_t *val);
int gicv2_dist_write(qvm_vdev_t *dev, struct gicv2 *g, unsigned cpu, uint64_t off,
                     unsigned size, uint32_t val);
int gicv2_cpu_read(qvm_vdev_t *dev, struct gicv2 *g, unsigned cpu, uint64_t off,
                   unsigned size, uint32_t *val);
int gicv2_cpu_write(qvm_vdev_t *dev, struct gicv2 *g, unsigned cpu, uint64_t off,
                    unsigned size, uint32_t val);
/* Input lines: an SPI (intid 32..) from a device; a PPI (16..31) of `cpu`
 * (the timers). Returns 0 or -EINVAL. */
int gicv2_set_spi(qvm_vdev_t *dev, struct gicv2 *g, unsigned intid, int level);
int gicv2_set_ppi(qvm_vdev_t *dev, struct gicv2 *g, unsigned cpu, unsigned intid,
                  int level);
/* Recomputes and drives every vCPU's input. */
void gicv2_update(qvm_vdev_t *dev, struct gicv2 *g);

#endif
