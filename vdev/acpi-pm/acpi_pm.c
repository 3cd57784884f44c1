/*
 * acpi-pm: ACPI fixed hardware (PM1a event and control blocks, PM timer,
 * reset register) in I/O space.
 *
 * One 16-port region, default loc io:0x600 (the FADT written by boot/ must
 * describe the same ports):
 *   +0  PM1a_EVT_BLK  PM1_STS (2 bytes, write 1 to clear):
 *                       bit 0 TMR_STS, 4 BM_STS, 5 GBL_STS, 8 PWRBTN_STS,
 *                       9 SLPBTN_STS, 10 RTC_STS, 15 WAK_STS
 *   +2                PM1_EN  (2 bytes): bits 0, 5, 8, 9, 10, 14 writable
 *   +4  PM1a_CNT_BLK  PM1_CNT (2 bytes): SCI_EN (bit 0) always reads 1 (the
 *                       machine is always in ACPI mode: FADT SMI_CMD = 0),
 *                       BM_RLD (bit 1) stored, GBL_RLS (bit 2) write-only,
 *                       SLP_TYP bits 10-12, SLP_EN bit 13 (write-only).
 *                       SLP_EN with SLP_TYP 5 powers the VM off (the DSDT's
 *                       \_S5 package must hold 5); other sleep types are
 *                       ignored with a rate-limited log.
 *   +8  PM_TMR_BLK    PM_TMR (4 bytes, read-only): 3.579545 MHz, 32 bits
 *                       (FADT flag TMR_VAL_EXT), computed from qvm_time_ns.
 *   +12 RESET_REG     1 byte: writing 0x01 (FADT RESET_VALUE) resets.
 *   +13..+15          reserved: read 0, writes ignored.
 * SCI (default ioapic:9, level, active high) is asserted while
 * (PM1_STS & PM1_EN) != 0. TMR_STS is set each time bit 31 of the timer
 * flips; with TMR_EN a qvm timer raises the SCI at that moment.
 * QVM_CTRL_POWER_BUTTON sets PWRBTN_STS (the guest sees the SCI when it
 * has enabled PWRBTN_EN).
 */
#include <qvm/vdev.h>

#include <errno.h>
#include <string.h>

#define PM_TMR_HZ 3579545ull
#define NS_PER_S 1000000000ull

#define STS_TMR 0x0001
#define STS_PWRBTN 0x0100
#define STS_WAK 0x8000
#define STS_MASK 0x8731
#define EN_MASK 0x4721
#define SCI_MASK 0x0721

#define CNT_SCI_EN 0x0001
#define CNT_BM_RLD 0x0002
#define CNT_SLP_EN 0x2000

struct pm {
    uint16_t sts, en, cnt;
    uint64_t base_ns;      /* timer epoch */
    uint64_t tmr_half;     /* index of the bit-31 half-period last seen */
    int sci;
    uint16_t port; /* the block's first port */
    qvm_timer_t *timer;
    uint64_t sleep_logs;
};

static const char *const pm_options[] = {NULL};

static uint64_t pm_ticks(const struct pm *p, uint64_t now)
{
    uint64_t d = now > p->base_ns ? now - p->base_ns : 0;
    return (uint64_t)((unsigned __int128)d * PM_TMR_HZ / NS_PER_S);
}

/* Latch TMR_STS for every bit-31 flip since the last look. */
static void update_tmr_sts(struct pm *p, uint64_t now)
{
    uint64_t half = pm_ticks(p, now) >> 31;
    if (half != p->tmr_half) {
        p->tmr_half = half;
        p->sts |= STS_TMR;
    }
}

static void update_sci(qvm_vdev_t *dev, struct pm *p)
{
    int level = (p->sts & p->en & SCI_MASK) != 0;
    if (level != p->sci) {
        p->sci = level;
        qvm_intr_set(dev, 0, level);
    }
}

static void schedule(struct pm *p, uint64_t now)
{
    if (!p->timer)
        return;
    qvm_timer_cancel(p->timer);
    if (!(p->en & STS_TMR) || (p->sts & STS_TMR))
        return;
    uint64_t next_tick = ((pm_ticks(p, now) >> 31) + 1) << 31;
    uint64_t when = p->base_ns +
        (uint64_t)(((unsigned __int128)next_tick * NS_PER_S + PM_TMR_HZ - 1) /
                   PM_TMR_HZ);
    qvm_timer_arm(p->timer, when, 0);
}

static void pm_timer(qvm_vdev_t *dev, void *state, void *arg)
{
    struct pm *p = state;
    uint64_t now = qvm_time_ns();
    (void)arg;
    update_tmr_sts(p, now);
    update_sci(dev, p);
    schedule(p, now);
}

static uint8_t reg_byte(struct pm *p, unsigned off, uint64_t now)
{
    uint32_t v;
    switch (off) {
    case 0: case 1:
        v = p->sts;
        return (uint8_t)(v >> (8 * (off & 1)));
    case 2: case 3:
        return (uint8_t)(p->en >> (8 * (off & 1)));
    case 4: case 5:
        v = (p->cnt & ~CNT_SLP_EN) | CNT_SCI_EN;
        return (uint8_t)(v >> (8 * (off & 1)));
    case 8: case 9: case 10: case 11:
        v = (uint32_t)pm_ticks(p, now);
        return (uint8_t)(v >> (8 * (off - 8)));
    default:
        return 0;
    }
}

static void write_cnt(qvm_vdev_t *dev, struct pm *p, uint16_t v)
{
    p->cnt = v & (0x1C00 | CNT_BM_RLD);
    if (!(v & CNT_SLP_EN))
        return;
    unsigned typ = (v >> 10) & 7;
    if (typ == 5) {
        qvm_log(dev, QVM_LOG_INFO, "guest entered S5: powering off");
        qvm_power(dev, QVM_POWER_OFF);
        return;
    }
    if (p->sleep_logs++ < 8)
        qvm_log(dev, QVM_LOG_WARN, "sleep type %u not supported; ignored", typ);
}

static int pm_access(qvm_vdev_t *dev, struct pm *p,
                     const struct qvm_access *acc, uint8_t *data, int wr)
{
    uint64_t now = qvm_time_ns();
    if (acc->size == 0 || acc->size > 8)
        return QVM_BUS_ERROR;
    update_tmr_sts(p, now);
    if (!wr) {
        for (unsigned i = 0; i < acc->size; i++) {
            uint64_t off = acc->offset + i;
            data[i] = off < 16 ? reg_byte(p, (unsigned)off, now) : 0xFF;
        }
        update_sci(dev, p);
        schedule(p, now);
        return QVM_DONE;
    }
    /* Gather the bytes per register, then act once per register. */
    uint16_t clr = 0, en = p->en, cnt = (uint16_t)(p->cnt & ~CNT_SLP_EN);
    int en_w = 0, cnt_w = 0, reset = 0;
    for (unsigned i = 0; i < acc->size; i++) {
        uint64_t off = acc->offset + i;
        if (off >= 16)
            continue;
        unsigned sh = 8 * (unsigned)(off & 1);
        switch (off) {
        case 0: case 1:
            clr |= (uint16_t)(data[i] << sh);
            break;
        case 2: case 3:
            en = (uint16_t)((en & ~(0xFF << sh)) | (data[i] << sh));
            en_w = 1;
            break;
        case 4: case 5:
            cnt = (uint16_t)((cnt & ~(0xFF << sh)) | (data[i] << sh));
            cnt_w = 1;
            break;
        case 12:
            if (data[i] == 0x01)
                reset = 1;
            break;
        default:
            break;
        }
    }
    p->sts &= (uint16_t)~(clr & STS_MASK);
    if (en_w)
        p->en = en & EN_MASK;
    if (cnt_w)
        write_cnt(dev, p, cnt);
    if (reset)
        qvm_power(dev, QVM_POWER_RESET);
    update_sci(dev, p);
    schedule(p, now);
    return QVM_DONE;
}

static int pm_read(qvm_vdev_t *dev, void *state, const struct qvm_access *acc,
                   void *data)
{
    return pm_access(dev, state, acc, data, 0);
}

static int pm_write(qvm_vdev_t *dev, void *state, const struct qvm_access *acc,
                    void *data)
{
    return pm_access(dev, state, acc, data, 1);
}

static void pm_power_on(struct pm *p)
{
    p->sts = 0;
    p->en = 0;
    p->cnt = 0;
    p->base_ns = qvm_time_ns();
    p->tmr_half = 0;
}

static int pm_control(qvm_vdev_t *dev, void *state, unsigned ctrl, int arg,
                      const char *value)
{
    struct pm *p = state;
    (void)arg;
    (void)value;
    switch (ctrl) {
    case QVM_CTRL_OPTIONS_START:
        pm_power_on(p);
        return 0;
    case QVM_CTRL_OPTION:
        return -EINVAL;
    case QVM_CTRL_OPTIONS_END: {
        uint32_t space = QVM_SPACE_IO;
        uint64_t base = 0x600;
        if (qvm_loc_count(dev) > 0 && qvm_loc_get(dev, 0, &space, &base))
            return -EINVAL;
        if (space != QVM_SPACE_IO) {
            qvm_log(dev, QVM_LOG_ERROR, "loc: acpi-pm lives in io: space");
            return -EINVAL;
        }
        if (base > 0x10000 - 16)
            return -EINVAL;
        int rc = qvm_region_add(dev, QVM_SPACE_IO, base, 16);
        if (rc < 0)
            return rc;
        p->port = (uint16_t)base;
        if (qvm_intr_count(dev) == 0)
            return qvm_intr_default(dev, "ioapic", 9) < 0 ? -EINVAL : 0;
        return 0;
    }
    case QVM_CTRL_GEN_ACPI: {
        /* The FADT's fixed-hardware blocks, in this device's layout. */
        struct qvm_acpi_pm blk = {
            .struct_size = sizeof blk,
            .pm1a_evt = p->port,
            .pm1a_cnt = (uint16_t)(p->port + 4),
            .pm_tmr = (uint16_t)(p->port + 8),
            .reset = (uint16_t)(p->port + 12),
            .reset_value = 0x01,
        };
        return qvm_acpi_pm_block(dev, &blk);
    }
    case QVM_CTRL_RESOURCES:
        if (!p->timer)
            p->timer = qvm_timer_create(dev, pm_timer, NULL);
        if (!p->timer) {
            qvm_log(dev, QVM_LOG_ERROR, "cannot create timer");
            return -ENOMEM;
        }
        return 0;
    case QVM_CTRL_RESET:
        pm_power_on(p);
        if (p->timer)
            qvm_timer_cancel(p->timer);
        update_sci(dev, p);
        return 0;
    case QVM_CTRL_POWER_BUTTON:
        update_tmr_sts(p, qvm_time_ns());
        p->sts |= STS_PWRBTN;
        update_sci(dev, p);
        return 0;
    case QVM_CTRL_STATUS:
        qvm_log(dev, QVM_LOG_INFO, "sts=%04x en=%04x cnt=%04x sci=%d", p->sts,
                p->en, p->cnt, p->sci);
        return 0;
    case QVM_CTRL_TERMINATE:
        if (p->timer)
            qvm_timer_destroy(p->timer);
        p->timer = NULL;
        return 0;
    default:
        return 0;
    }
}

static const struct qvm_factory pm_factory = {
    .abi_major = QVM_VDEV_ABI_MAJOR,
    .abi_minor = QVM_VDEV_ABI_MINOR,
    .struct_size = sizeof(struct qvm_factory),
    .name = "acpi-pm",
    .description = "ACPI PM1a event/control blocks, PM timer, reset register",
    .flags = QVM_VDEVF_SPACE_IO,
    .access_sizes = QVM_ACCESS_1 | QVM_ACCESS_2 | QVM_ACCESS_4,
    .options = pm_options,
    .state_size = sizeof(struct pm),
    .control = pm_control,
    .read = pm_read,
    .write = pm_write,
    .pic = NULL,
};

static void __attribute__((constructor)) pm_register(void)
{
    qvm_register_factory(&pm_factory);
}
