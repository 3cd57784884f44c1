/*
 * wdt-sp805: the ARM PrimeCell SP805 watchdog (ARM DDI 0270B register set).
 *
 * Registers (4 KiB region, 32-bit accesses only; other sizes and unaligned
 * offsets are bus errors):
 *   0x000 WdogLoad     RW  reload value (power-on 0xffffffff); a write
 *                          restarts the count from the new value
 *   0x004 WdogValue    RO  current count
 *   0x008 WdogControl  RW  bit 0 INTEN (runs the counter and enables the
 *                          interrupt; 0->1 reloads), bit 1 RESEN
 *   0x00c WdogIntClr   WO  clears the interrupt and reloads the counter
 *   0x010 WdogRIS      RO  bit 0 raw interrupt
 *   0x014 WdogMIS      RO  bit 0 RIS & INTEN (the interrupt output)
 *   0xc00 WdogLock     RW  0x1acce551 unlocks writes to the other
 *                          registers, anything else locks; reads 1 locked
 *   0xf00 WdogITCR, 0xf04 WdogITOP   integration test: RAZ/WI
 *   0xfe0-0xffc peripheral / PrimeCell IDs 0x05 0x18 0x14 0x00 /
 *                          0x0d 0xf0 0x05 0xb1 (AMBA id 0x00141805)
 *   everything else in the region: RAZ/WI
 * Counting: while INTEN is set the counter runs at `frequency` Hz from
 * WdogLoad down; one period is WdogLoad + 1 clocks (a load of 0 times out at
 * the next clock). At the end of a period with WdogRIS clear the interrupt
 * is raised (level, output = RIS & INTEN) and the count restarts; at the end
 * of a period with WdogRIS still set and RESEN set the watchdog fires: the
 * configured action runs and the counter stops (until WdogIntClr, a load or
 * a reset). Time comes from qvm's clock, so late timers never change what
 * the guest reads: every access first accounts for the periods that ended.
 *
 * Options:
 *   action [dump,]terminate|reset|fiq   (default terminate, QNX's)
 *                      terminate: qvm exits with code 4 ("watchdog"); reset:
 *                      the VM resets in place (what the board's WDOGRES
 *                      does); fiq: an edge on the device's interrupt line
 *                      (QNX's `fiq`; the GIC line is level, so the edge is a
 *                      drop and re-raise when the line is high), repeated
 *                      each period, at most every millisecond, until the
 *                      guest acknowledges. `dump,` (QNX's) first asks qvm for
 *                      a guest dump (qvm_guest_dump, ABI 1.7), then does the
 *                      rest once it is written; with fiq, one dump per
 *                      expiry (until WdogIntClr, a load or INTEN restarts
 *                      the count). `dump` alone is dump,terminate. Parsed by
 *                      vdev/libwdt/wdt_action.h.
 *   frequency HZ       counter clock, 1 Hz .. 1 GHz (default 25000000, QNX's
 *                      default); described to the guest in the FDT as the
 *                      node's first clock (`clock-frequency`, which qvm's
 *                      arm64 machine turns into a fixed clock, see
 *                      arch/aarch64/README.md)
 * Defaults: loc mem:0x1c0f0000, intr gic:32. FDT node
 * `watchdog@...`, compatible "arm,sp805 arm,primecell", clock-names
 * "wdog_clk apb_pclk" (Linux's sp805_wdt takes the rate of the first clock).
 * Depends only on <qvm/vdev.h>.
 */
#include <qvm/vdev.h>

#include "../libwdt/wdt_action.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define REG_LOAD 0x000
#define REG_VALUE 0x004
#define REG_CONTROL 0x008
#define REG_INTCLR 0x00c
#define REG_RIS 0x010
#define REG_MIS 0x014
#define REG_LOCK 0xc00
#define REG_ITCR 0xf00
#define REG_ITOP 0xf04

#define CTRL_INTEN 0x1u
#define CTRL_RESEN 0x2u
#define UNLOCK_KEY 0x1acce551u

#define DEFAULT_BASE 0x1c0f0000ull
#define DEFAULT_INTR 32u
#define DEFAULT_HZ 25000000ull
#define FIQ_MIN_NS 1000000ull

struct sp805 {
    /* configuration */
    struct wdt_action action;
    uint64_t hz;
    qvm_timer_t *timer;
    /* registers */
    uint32_t load, control;
    int ris, locked;
    /* counter: running while INTEN and not fired; `epoch` is when the
     * current period started; `frozen` is the count while stopped */
    uint64_t epoch;
    uint32_t frozen;
    int fired;
    int dumped; /* fiq: this expiry's dump was asked for */
    int irq_level;
    uint64_t next_fiq;
    /* statistics */
    unsigned long long timeouts, fires, bad_accesses, locked_writes;
};

static const char *const sp805_options[] = {"action", "frequency", NULL};

static int running(const struct sp805 *w)
{
    return (w->control & CTRL_INTEN) && !w->fired;
}

/* Nanoseconds for `ticks` clocks, rounded up (at most 2^32 * 1e9 ns). */
static uint64_t ticks_to_ns(const struct sp805 *w, uint64_t ticks)
{
    unsigned __int128 ns = (unsigned __int128)ticks * 1000000000u + w->hz - 1;
    return (uint64_t)(ns / w->hz);
}

static uint64_t ns_to_ticks(const struct sp805 *w, uint64_t ns)
{
    return (uint64_t)((unsigned __int128)ns * w->hz / 1000000000u);
}

static uint64_t period_ns(const struct sp805 *w)
{
    return ticks_to_ns(w, (uint64_t)w->load + 1);
}

static void update_irq(qvm_vdev_t *dev, struct sp805 *w)
{
    int level = w->ris && (w->control & CTRL_INTEN);
    if (level != w->irq_level) {
        w->irq_level = level;
        qvm_intr_set(dev, 0, level);
    }
}

static void fire(qvm_vdev_t *dev, struct sp805 *w, uint64_t now)
{
    w->fires++;
    if (w->action.follow == WDT_FIQ) {
        int dump_now = !w->dumped;
        w->dumped = 1;
        if (!wdt_action_expire(dev, &w->action, dump_now))
            return;
        /* An edge on the line; the counter keeps running. */
        if (w->irq_level) {
            qvm_intr_set(dev, 0, 0);
            qvm_intr_set(dev, 0, 1);
        } else {
            qvm_intr_pulse(dev, 0);
        }
        w->next_fiq = now + FIQ_MIN_NS;
        if (w->fires <= 3)
            qvm_log(dev, QVM_LOG_WARN, "watchdog expired: %s",
                    wdt_action_text(&w->action));
        return;
    }
    w->fired = 1;
    w->frozen = 0;
    qvm_log(dev, QVM_LOG_WARN, "watchdog expired (load 0x%x at %llu Hz): %s", w->load,
            (unsigned long long)w->hz, wdt_action_text(&w->action));
    wdt_action_expire(dev, &w->action, 1);
}

/* Accounts for every period that ended by `now` (bounded: at most one
 * interrupt and one expiry per call). */
static void sync_to(qvm_vdev_t *dev, struct sp805 *w, uint64_t now)
{
    for (int step = 0; step < 3 && running(w); step++) {
        uint64_t p = period_ns(w);
        if (now < w->epoch || now - w->epoch < p)
            return;
        if (!w->ris) {
            w->ris = 1;
            w->timeouts++;
            w->epoch += p;
            update_irq(dev, w);
            continue;
        }
        /* Skip whole periods in one step (the count keeps wrapping). */
        uint64_t n = (now - w->epoch) / p;
        if (w->control & CTRL_RESEN) {
            if (w->action.follow == WDT_FIQ && now < w->next_fiq)
                return; /* rate limit: the timer comes back later */
            w->epoch += n * p;
            fire(dev, w, now);
            return;
        }
        w->epoch += n * p;
        return;
    }
}

static void arm_timer(struct sp805 *w, uint64_t now)
{
    if (!w->timer)
        return;
    if (!running(w) || (w->ris && !(w->control & CTRL_RESEN))) {
        qvm_timer_cancel(w->timer);
        return;
    }
    uint64_t when = w->epoch + period_ns(w);
    if (w->ris && w->action.follow == WDT_FIQ && when < w->next_fiq)
        when = w->next_fiq;
    if (when < now)
        when = now;
    qvm_timer_arm(w->timer, when, 0);
}

static void sp805_timer(qvm_vdev_t *dev, void *state, void *arg)
{
    struct sp805 *w = state;
    uint64_t now = qvm_time_ns();
    (void)arg;
    sync_to(dev, w, now);
    arm_timer(w, now);
}

static uint32_t current_value(const struct sp805 *w, uint64_t now)
{
    if (!running(w))
        return w->frozen;
    uint64_t e = now > w->epoch ? ns_to_ticks(w, now - w->epoch) : 0;
    return (uint32_t)(w->load - e % ((uint64_t)w->load + 1));
}

static void restart(struct sp805 *w, uint64_t now)
{
    w->epoch = now;
    w->fired = 0;
    w->dumped = 0;
    w->frozen = w->load;
}

static void sp805_reset(qvm_vdev_t *dev, struct sp805 *w)
{
    w->load = 0xffffffffu;
    w->frozen = 0xffffffffu;
    w->control = 0;
    w->ris = 0;
    w->locked = 0;
    w->fired = 0;
    w->dumped = 0;
    w->next_fiq = 0;
    if (w->timer)
        qvm_timer_cancel(w->timer);
    w->irq_level = 0;
    qvm_intr_set(dev, 0, 0);
}

static uint32_t reg_read(struct sp805 *w, uint64_t off, uint64_t now)
{
    static const uint8_t id[8] = {0x05, 0x18, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1};
    if (off >= 0xfe0)
        return id[(off - 0xfe0) / 4];
    switch (off) {
    case REG_LOAD: return w->load;
    case REG_VALUE: return current_value(w, now);
    case REG_CONTROL: return w->control;
    case REG_RIS: return (uint32_t)w->ris;
    case REG_MIS: return (uint32_t)(w->ris && (w->control & CTRL_INTEN));
    case REG_LOCK: return (uint32_t)w->locked;
    default: return 0; /* WdogIntClr (WO), ITCR/ITOP, reserved: RAZ */
    }
}

static void reg_write(qvm_vdev_t *dev, struct sp805 *w, uint64_t off, uint32_t v, uint64_t now)
{
    if (off == REG_LOCK) {
        w->locked = v != UNLOCK_KEY;
        return;
    }
    if (w->locked) {
        if (off <= REG_MIS && w->locked_writes++ < 4)
            qvm_log(dev, QVM_LOG_DEBUG, "write 0x%x to 0x%03llx ignored: registers locked", v,
                    (unsigned long long)off);
        return;
    }
    switch (off) {
    case REG_LOAD:
        w->load = v;
        restart(w, now);
        break;
    case REG_CONTROL: {
        uint32_t old = w->control;
        if ((old & CTRL_INTEN) && !(v & CTRL_INTEN))
            w->frozen = current_value(w, now); /* stop: hold the count */
        w->control = v & (CTRL_INTEN | CTRL_RESEN);
        if (!(old & CTRL_INTEN) && (v & CTRL_INTEN))
            restart(w, now);
        break;
    }
    case REG_INTCLR:
        w->ris = 0;
        restart(w, now);
        break;
    default:
        break; /* RO registers, ITCR/ITOP, reserved: WI */
    }
    update_irq(dev, w);
}

static int check_access(qvm_vdev_t *dev, struct sp805 *w, const struct qvm_access *acc)
{
    if (acc->size == 4 && !(acc->offset & 3) && acc->offset < 0x1000)
        return 0;
    if (w->bad_accesses++ < 4)
        qvm_log(dev, QVM_LOG_WARN, "%u-byte access at offset 0x%llx: bus error", acc->size,
                (unsigned long long)acc->offset);
    return -1;
}

static int sp805_read(qvm_vdev_t *dev, void *state, const struct qvm_access *acc, void *data)
{
    struct sp805 *w = state;
    if (check_access(dev, w, acc))
        return QVM_BUS_ERROR;
    uint64_t now = qvm_time_ns();
    sync_to(dev, w, now);
    uint32_t v = reg_read(w, acc->offset, now);
    arm_timer(w, now);
    memcpy(data, &v, 4);
    return QVM_DONE;
}

static int sp805_write(qvm_vdev_t *dev, void *state, const struct qvm_access *acc, void *data)
{
    struct sp805 *w = state;
    uint32_t v;
    if (check_access(dev, w, acc))
        return QVM_BUS_ERROR;
    memcpy(&v, data, 4);
    uint64_t now = qvm_time_ns();
    sync_to(dev, w, now);
    reg_write(dev, w, acc->offset, v, now);
    arm_timer(w, now);
    return QVM_DONE;
}

static int parse_option(qvm_vdev_t *dev, struct sp805 *w, int arg, const char *value)
{
    if (!value || !*value) {
        qvm_log(dev, QVM_LOG_ERROR, "option %s: missing value", arg == 0 ? "action" : "frequency");
        return -EINVAL;
    }
    if (arg == 0) {
        static const char *const refused[3] = {NULL, NULL, NULL};
        return wdt_action_parse(dev, value, refused, &w->action);
    }
    if (arg == 1) {
        char *end;
        errno = 0;
        unsigned long long hz = strtoull(value, &end, 0);
        if (errno || *end || value[0] == '-' || hz < 1 || hz > 1000000000ull) {
            qvm_log(dev, QVM_LOG_ERROR, "option frequency '%s': expected 1..1000000000 (Hz)",
                    value);
            return -EINVAL;
        }
        w->hz = hz;
        return 0;
    }
    return -EINVAL;
}

static int sp805_control(qvm_vdev_t *dev, void *state, unsigned ctrl, int arg,
                         const char *value)
{
    struct sp805 *w = state;
    switch (ctrl) {
    case QVM_CTRL_OPTIONS_START:
        wdt_action_default(&w->action);
        w->hz = DEFAULT_HZ;
        return 0;
    case QVM_CTRL_OPTION:
        return parse_option(dev, w, arg, value);
    case QVM_CTRL_OPTIONS_END: {
        uint32_t space = QVM_SPACE_MEM;
        uint64_t base = DEFAULT_BASE;
        if (qvm_loc_count(dev) > 0 && qvm_loc_get(dev, 0, &space, &base) != 0)
            return -EINVAL;
        if (space != QVM_SPACE_MEM || (base & 0xfff) || base > UINT64_MAX - 0x1000) {
            qvm_log(dev, QVM_LOG_ERROR, "loc: must be a 4 KiB-aligned mem: address");
            return -EINVAL;
        }
        int rc = qvm_region_add(dev, QVM_SPACE_MEM, base, 0x1000);
        if (rc < 0)
            return rc;
        if (qvm_intr_count(dev) == 0) {
            rc = qvm_intr_default(dev, "gic", DEFAULT_INTR);
            if (rc < 0)
                return rc;
        }
        return 0;
    }
    case QVM_CTRL_RESOURCES:
        w->timer = qvm_timer_create(dev, sp805_timer, NULL);
        return w->timer ? 0 : -ENOMEM;
    case QVM_CTRL_GEN_FDT: {
        static const char names[] = "wdog_clk\0apb_pclk";
        int rc = qvm_fdt_node(dev, "watchdog", "arm,sp805 arm,primecell");
        if (rc >= 0)
            rc = qvm_fdt_prop_u32(dev, "clock-frequency", (uint32_t)w->hz);
        if (rc >= 0)
            rc = qvm_fdt_prop_bytes(dev, "clock-names", names, sizeof names);
        return rc < 0 ? rc : 0;
    }
    case QVM_CTRL_RESET:
        sp805_reset(dev, w);
        return 0;
    case QVM_CTRL_STATUS: {
        uint64_t now = qvm_time_ns();
        sync_to(dev, w, now);
        qvm_log(dev, QVM_LOG_INFO,
                "%s, load 0x%x value 0x%x control %x ris %d %s, %llu Hz; %llu timeouts, %llu "
                "expiries", running(w) ? "running" : w->fired ? "expired" : "stopped", w->load,
                current_value(w, now), w->control, w->ris, w->locked ? "locked" : "unlocked",
                (unsigned long long)w->hz, w->timeouts, w->fires);
        return 0;
    }
    default:
        return wdt_control_end(ctrl, &w->timer);
    }
}

static const struct qvm_factory sp805_factory = {
    .abi_major = QVM_VDEV_ABI_MAJOR,
    .abi_minor = QVM_VDEV_ABI_MINOR,
    .struct_size = sizeof(struct qvm_factory),
    .name = "wdt-sp805",
    .description = "ARM PrimeCell SP805 watchdog",
    .flags = QVM_VDEVF_SPACE_MEM,
    .access_sizes = QVM_ACCESS_4,
    .options = sp805_options,
    .state_size = sizeof(struct sp805),
    .control = sp805_control,
    .read = sp805_read,
    .write = sp805_write,
    .pic = NULL,
    .version = "1.0",
};

static void __attribute__((constructor)) sp805_register(void)
{
    qvm_register_factory(&sp805_factory);
}
