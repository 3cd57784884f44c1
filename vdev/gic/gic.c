/*
 * gic: the arm64 Generic Interrupt Controller.
 *
 * `mode kernel` (default): modelled by the accelerator (KVM's in-kernel
 * vGIC) — the distributor, redistributors / CPU interface and the generic
 * timer's PPIs all live in the host kernel; this plug-in declares the
 * regions, asks qvm for the in-kernel model (qvm_irqchip_accel), forwards
 * SPIs from other devices (`intr gic:N`, N = interrupt ID, SPI + 32) with
 * qvm_irqchip_line, and describes itself in the device tree.
 *
 * `mode user`: a GICv2 emulated here (gicv2_user.c) — ABI 1.3
 * qvm_irqchip_user, the vCPUs' IRQ/FIQ inputs driven with qvm_vcpu_irq, the
 * timers' levels (PPI 27 virtual, 30 physical, 23 PMU) from the per-vCPU
 * outputs callback. At most 8 vCPUs. Implies `version 2`.
 *
 * Options: `version 2|3` (default 3), `mode kernel|user`, `loc mem:ADDR` or
 * `gicd ADDR` (distributor), `gicr ADDR` (v3 redistributors, 128 KiB per
 * vCPU, room for 64), `gicc ADDR` (v2 CPU interface). Defaults (ARM FVP /
 * QNX layout):
 *   v3: GICD 0x2f000000 (64 KiB), GICR 0x2f100000 (8 MiB)
 *   v2: GICD 0x2c001000 (4 KiB),  GICC 0x2c002000 (8 KiB)
 */
#include <qvm/vdev.h>

#include "gicv2_user.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NIRQS 256u

struct gic {
    unsigned version;
    uint64_t gicd, gicr, gicc;
    int have_gicd, have_gicr, have_gicc;
    int have_version, user;
    unsigned char level[NIRQS];
    struct gicv2 v2; /* mode user */
};

static const char *const gic_options[] = {"version", "gicd", "gicc", "gicr", "mode", NULL};

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    if (!s || !*s)
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

static int gic_set_line(qvm_vdev_t *dev, void *state, unsigned line, int level)
{
    struct gic *g = state;
    if (line < 32 || line >= NIRQS)
        return -EINVAL; /* SGIs and PPIs are not device inputs */
    g->level[line] = level ? 1 : 0;
    if (g->user)
        return gicv2_set_spi(dev, &g->v2, line, level);
    int rc = qvm_irqchip_line(dev, line, level);
    return rc == -EAGAIN ? 0 : rc; /* no guest yet: re-driven at RESET */
}

static unsigned gic_line_count(qvm_vdev_t *dev, void *state)
{
    (void)dev;
    (void)state;
    return NIRQS;
}

/* mode user: the vCPU's timers / PMU changed level (ABI 1.3). */
static void gic_outputs(qvm_vdev_t *dev, void *state, unsigned vcpu, uint32_t outputs)
{
    struct gic *g = state;
    if (!g->user || vcpu >= g->v2.ncpu)
        return;
    gicv2_set_ppi(dev, &g->v2, vcpu, 27, (outputs & QVM_VCPU_OUT_VTIMER) != 0);
    gicv2_set_ppi(dev, &g->v2, vcpu, 30, (outputs & QVM_VCPU_OUT_PTIMER) != 0);
    gicv2_set_ppi(dev, &g->v2, vcpu, 23, (outputs & QVM_VCPU_OUT_PMU) != 0);
}

static const struct qvm_pic_ops gic_pic = {
    .struct_size = sizeof(struct qvm_pic_ops),
    .set_line = gic_set_line,
    .line_count = gic_line_count,
};

static int gic_control(qvm_vdev_t *dev, void *state, unsigned ctrl, int arg,
                       const char *value)
{
    struct gic *g = state;
    switch (ctrl) {
    case QVM_CTRL_OPTIONS_START:
        g->version = 3;
        return 0;
    case QVM_CTRL_OPTION: {
        uint64_t v;
        if (arg == 0) {
            if (!value || (strcmp(value, "2") && strcmp(value, "3"))) {
                qvm_log(dev, QVM_LOG_ERROR, "option version '%s': expected 2 or 3",
                        value ? value : "");
                return -EINVAL;
            }
            g->version = (unsigned)(value[0] - '0');
            g->have_version = 1;
            return 0;
        }
        if (arg == 4) {
            if (value && !strcmp(value, "kernel")) { g->user = 0; return 0; }
            if (value && !strcmp(value, "user")) { g->user = 1; return 0; }
            qvm_log(dev, QVM_LOG_ERROR, "option mode '%s': expected kernel or user",
                    value ? value : "");
            return -EINVAL;
        }
        if (parse_u64(value, &v) || (v & 0xfff)) {
            qvm_log(dev, QVM_LOG_ERROR, "option %s '%s': expected a 4 KiB-aligned address",
                    gic_options[arg], value ? value : "");
            return -EINVAL;
        }
        if (arg == 1) { g->gicd = v; g->have_gicd = 1; }
        if (arg == 2) { g->gicc = v; g->have_gicc = 1; }
        if (arg == 3) { g->gicr = v; g->have_gicr = 1; }
        return 0;
    }
    case QVM_CTRL_OPTIONS_END: {
        uint32_t space = QVM_SPACE_MEM;
        uint64_t base;
        if (qvm_loc_count(dev) > 0) {
            if (qvm_loc_get(dev, 0, &space, &base) != 0 || space != QVM_SPACE_MEM) {
                qvm_log(dev, QVM_LOG_ERROR, "loc: must be mem:");
                return -EINVAL;
            }
            if (!g->have_gicd) { g->gicd = base; g->have_gicd = 1; }
        }
        int rc;
        if (g->user) {
            if (g->have_version && g->version != 2) {
                qvm_log(dev, QVM_LOG_ERROR, "mode user: the user-space GIC is a GICv2 (a "
                        "GICv3's CPU interface is system registers that stay in the kernel)");
                return -EINVAL;
            }
            g->version = 2;
        }
        if (g->version == 3) {
            if (g->have_gicc) {
                qvm_log(dev, QVM_LOG_ERROR, "option gicc: only for version 2");
                return -EINVAL;
            }
            if (!g->have_gicd) g->gicd = 0x2f000000;
            if (!g->have_gicr) g->gicr = 0x2f100000;
            if ((g->gicd & 0xffff) || (g->gicr & 0xffff)) {
                qvm_log(dev, QVM_LOG_ERROR, "GICv3 regions must be 64 KiB aligned");
                return -EINVAL;
            }
            rc = qvm_region_add(dev, QVM_SPACE_MEM, g->gicd, 0x10000);
            if (rc >= 0) rc = qvm_region_add(dev, QVM_SPACE_MEM, g->gicr, 0x20000 * 64);
        } else {
            if (g->have_gicr) {
                qvm_log(dev, QVM_LOG_ERROR, "option gicr: only for version 3");
                return -EINVAL;
            }
            if (!g->have_gicd) g->gicd = 0x2c001000;
            if (!g->have_gicc) g->gicc = 0x2c002000;
            rc = qvm_region_add(dev, QVM_SPACE_MEM, g->gicd, 0x1000);
            if (rc >= 0) rc = qvm_region_add(dev, QVM_SPACE_MEM, g->gicc, 0x2000);
        }
        if (rc < 0)
            return rc;
        if (g->user) {
            unsigned n = qvm_vcpu_count(dev);
            if (n > GICV2_MAXCPU) {
                qvm_log(dev, QVM_LOG_ERROR, "mode user: a GICv2 serves at most %u vCPUs, "
                        "this VM has %u", GICV2_MAXCPU, n);
                return -EINVAL;
            }
            gicv2_reset(&g->v2, n);
            rc = qvm_irqchip_user(dev, QVM_IRQCHIP_GICV2, gic_outputs);
            if (rc == -ENOTSUP)
                qvm_log(dev, QVM_LOG_ERROR, "this machine cannot leave its interrupt "
                        "controller to user space");
            return rc;
        }
        rc = qvm_irqchip_accel(dev, g->version == 3 ? QVM_IRQCHIP_GICV3 : QVM_IRQCHIP_GICV2,
                               NIRQS);
        if (rc == -ENOTSUP)
            qvm_log(dev, QVM_LOG_ERROR,
                    "this machine cannot model a GICv%u in the kernel%s", g->version,
                    g->version == 2 ? " (try `mode user`)" : "");
        return rc;
    }
    case QVM_CTRL_GEN_FDT: {
        int rc = qvm_fdt_node(dev, "interrupt-controller",
                              g->version == 3 ? "arm,gic-v3" : "arm,cortex-a15-gic");
        if (rc < 0)
            return rc;
        rc = qvm_fdt_prop_u32(dev, "#interrupt-cells", 3);
        if (rc >= 0) rc = qvm_fdt_prop_bytes(dev, "interrupt-controller", NULL, 0);
        if (rc >= 0) rc = qvm_fdt_prop_u32(dev, "#address-cells", 2);
        if (rc >= 0) rc = qvm_fdt_prop_u32(dev, "#size-cells", 2);
        if (rc >= 0) rc = qvm_fdt_prop_bytes(dev, "ranges", NULL, 0);
        if (rc >= 0 && !g->user) { /* no virtualization extensions in user mode */
            /* maintenance interrupt: PPI 9 */
            const uint32_t maint[3] = {1, 9, 4};
            rc = qvm_fdt_prop_cells(dev, "interrupts", maint, 3);
        }
        return rc;
    }
    case QVM_CTRL_RESET:
        if (g->user) {
            /* Power-on state; device lines keep their levels. */
            gicv2_reset(&g->v2, g->v2.ncpu);
            for (unsigned i = 32; i < NIRQS; i++)
                g->v2.spi[i - 32].level = g->level[i];
            return 0;
        }
        /* A new VM: the kernel's lines start low; re-drive the held ones. */
        for (unsigned i = 32; i < NIRQS; i++)
            if (g->level[i])
                qvm_irqchip_line(dev, i, 1);
        return 0;
    case QVM_CTRL_STATUS: {
        unsigned high = 0;
        for (unsigned i = 32; i < NIRQS; i++)
            high += g->level[i];
        if (g->user) {
            unsigned act = 0;
            for (unsigned c = 0; c < g->v2.ncpu; c++)
                act += g->v2.cpu[c].nact;
            qvm_log(dev, QVM_LOG_INFO, "GICv2 in user space, gicd 0x%llx, gicc 0x%llx, "
                    "%u vCPUs, distributor %s, %u SPIs high, %u active, %llu stray EOIs",
                    (unsigned long long)g->gicd, (unsigned long long)g->gicc, g->v2.ncpu,
                    (g->v2.ctlr & 1) ? "on" : "off", high, act, g->v2.spurious_eoi);
            return 0;
        }
        qvm_log(dev, QVM_LOG_INFO, "GICv%u in the kernel, gicd 0x%llx, %s 0x%llx, %u SPIs high",
                g->version, (unsigned long long)g->gicd, g->version == 3 ? "gicr" : "gicc",
                (unsigned long long)(g->version == 3 ? g->gicr : g->gicc), high);
        return 0;
    }
    case QVM_CTRL_POWER_BUTTON:
        return -ENOTSUP;
    default:
        return 0;
    }
}

/* mode kernel: the kernel serves these regions; an access here means a
 * misconfiguration. mode user: region 0 the distributor, 1 the CPU
 * interface of the accessing vCPU. */
static int gic_read(qvm_vdev_t *dev, void *state, const struct qvm_access *acc, void *data)
{
    struct gic *g = state;
    if (!g->user || acc->size > 4)
        return QVM_BUS_ERROR;
    uint32_t v = 0;
    int rc = acc->region == 0 ? gicv2_dist_read(dev, &g->v2, acc->vcpu, acc->offset, acc->size, &v)
                              : gicv2_cpu_read(dev, &g->v2, acc->vcpu, acc->offset, acc->size, &v);
    memcpy(data, &v, acc->size); /* little-endian host */
    return rc;
}

static int gic_write(qvm_vdev_t *dev, void *state, const struct qvm_access *acc, void *data)
{
    struct gic *g = state;
    if (!g->user || acc->size > 4)
        return QVM_BUS_ERROR;
    uint32_t v = 0;
    memcpy(&v, data, acc->size);
    return acc->region == 0 ? gicv2_dist_write(dev, &g->v2, acc->vcpu, acc->offset, acc->size, v)
                            : gicv2_cpu_write(dev, &g->v2, acc->vcpu, acc->offset, acc->size, v);
}

static const struct qvm_factory gic_factory = {
    .abi_major = QVM_VDEV_ABI_MAJOR,
    .abi_minor = QVM_VDEV_ABI_MINOR,
    .struct_size = sizeof(struct qvm_factory),
    .name = "gic",
    .description = "ARM GICv2/v3 interrupt controller (in-kernel vGIC, or a user-space GICv2)",
    .flags = QVM_VDEVF_SPACE_MEM | QVM_VDEVF_PIC,
    .access_sizes = QVM_ACCESS_1 | QVM_ACCESS_2 | QVM_ACCESS_4 | QVM_ACCESS_8,
    .options = gic_options,
    .state_size = sizeof(struct gic),
    .control = gic_control,
    .read = gic_read,
    .write = gic_write,
    .pic = &gic_pic,
    .version = "1.1",
};

static void __attribute__((constructor)) gic_register(void)
{
    qvm_register_factory(&gic_factory);
}
