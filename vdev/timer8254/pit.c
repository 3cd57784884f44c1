/*
 * timer8254: the PC's 8254 programmable interval timer plus port 0x61.
 *
 * Regions (defaults; `loc` 1/2 override them): io 0x40-0x43 (counters 0-2,
 * control word) and io 0x61 (NMI status and control: bit 0 gate of counter
 * 2, bit 1 speaker data enable, bits 2-3 stored, bit 4 refresh toggle
 * (flips every 15.085 us), bit 5 OUT of counter 2, bits 6-7 read 0).
 *
 * Counters run at 1.193182 MHz and are computed from qvm_time_ns, never by
 * ticking: a counter remembers when it started (and the ticks it had
 * counted before a gate pause), so reads, OUT and the interrupt schedule
 * all derive from the same clock. Modes 0-5, access modes lobyte / hibyte /
 * lobyte-then-hibyte, counter latch and the read-back command (count and
 * status latches) are modelled. Unlatched reads return the live count,
 * which Linux's quick_pit_calibrate relies on.
 *
 * Simplifications (documented, guest-visible only in corner cases):
 *  - BCD counting is refused: the BCD bit is accepted but counting is
 *    binary and status reads report BCD = 0 (logged once).
 *  - A count written while a counter runs takes effect at once (the real
 *    part waits for the end of the current period in modes 2 and 3).
 *  - Counting starts on the write, not on the following clock edge.
 * Gates: counters 0 and 1 have their gate tied high; counter 2's gate is
 * port 0x61 bit 0 (modes 0/4 pause while low; modes 2/3 hold OUT high and
 * restart on a rising edge; modes 1/5 trigger on a rising edge).
 *
 * Counter 0 drives the device's interrupt (default ioapic:2) with qvm
 * timers, as a pulse per rising OUT edge: mode 0 and 4 once at terminal
 * count, modes 2 and 3 periodically. The period is clamped to at least
 * 100 us (10 kHz) so a guest cannot flood the host with timer events; the
 * counter value itself keeps the programmed rate.
 *
 * Power-on state: every counter in mode 3, lobyte/hibyte access, no count
 * loaded (OUT high, no interrupts) until the guest programs it.
 */
#include <qvm/vdev.h>

#include <errno.h>
#include <string.h>

#define PIT_HZ 1193182ull
#define NS_PER_S 1000000000ull
#define MIN_PERIOD_NS 100000ull

struct chan {
    uint8_t mode;
    uint8_t rw;        /* 1 lsb, 2 msb, 3 lsb then msb */
    uint8_t gate;
    uint8_t armed;     /* a count was loaded since the last control word */
    uint8_t triggered; /* modes 1/5: a gate rising edge since the load */
    uint8_t null_count;
    uint8_t frozen;
    uint8_t write_hi_next, write_lo;
    uint8_t read_hi_next;
    uint8_t latched, latch_hi_next;
    uint8_t status_latched, status;
    uint16_t latch_val;
    uint16_t held;     /* value shown while not counting */
    uint32_t reload;   /* 1..65536 */
    uint64_t start_ns;
    uint64_t base_ticks;
};

struct pit {
    struct chan ch[3];
    uint8_t port61; /* bits 0-3 */
    qvm_timer_t *timer;
    int bcd_logged;
    uint64_t irqs;
};

static const char *const pit_options[] = {NULL};

static uint64_t ns_to_ticks(uint64_t ns)
{
    return (uint64_t)((unsigned __int128)ns * PIT_HZ / NS_PER_S);
}

static uint64_t ticks_to_ns(uint64_t ticks)
{
    return (uint64_t)(((unsigned __int128)ticks * NS_PER_S + PIT_HZ - 1) /
                      PIT_HZ);
}

static uint64_t chan_ticks(const struct chan *c, uint64_t now)
{
    if (c->frozen)
        return c->base_ticks;
    return c->base_ticks + (now > c->start_ns ? ns_to_ticks(now - c->start_ns)
                                              : 0);
}

static int counting(const struct chan *c)
{
    if (!c->armed)
        return 0;
    if ((c->mode == 1 || c->mode == 5) && !c->triggered)
        return 0;
    return 1;
}

/* Current counter value (16 bits) and OUT level. */
static void chan_state(const struct chan *c, uint64_t now, uint16_t *count,
                       int *out)
{
    uint64_t n = c->reload, t;
    if (!counting(c)) {
        *count = c->held;
        *out = c->armed ? 1 : (c->mode != 0);
        return;
    }
    t = chan_ticks(c, now);
    switch (c->mode) {
    case 0:
    case 1:
        *count = (uint16_t)(n - t);
        *out = t >= n;
        break;
    case 2: {
        if (n < 2)
            n = 2;
        uint64_t ph = t % n;
        *count = (uint16_t)(n - ph);
        *out = c->gate ? ph != n - 1 : 1;
        break;
    }
    case 3: {
        if (n < 2)
            n = 2;
        uint64_t ph = t % n, hi = (n + 1) / 2, even = n & ~1ull, v;
        if (ph < hi) {
            v = even - 2 * ph;
            *out = 1;
        } else {
            v = even - 2 * (ph - hi);
            *out = 0;
        }
        if (!c->gate)
            *out = 1;
        *count = (uint16_t)(v ? v : even);
        break;
    }
    default: /* 4, 5 */
        *count = (uint16_t)(n - t);
        *out = t != n;
        break;
    }
}

static void schedule_ch0(struct pit *p)
{
    struct chan *c = &p->ch[0];
    if (!p->timer)
        return;
    qvm_timer_cancel(p->timer);
    if (!counting(c) || c->frozen)
        return;
    switch (c->mode) {
    case 0:
    case 4:
        if (c->base_ticks >= c->reload)
            return; /* terminal count already passed */
        qvm_timer_arm(p->timer,
                      c->start_ns + ticks_to_ns(c->reload - c->base_ticks), 0);
        return;
    case 2:
    case 3: {
        uint64_t period = ticks_to_ns(c->reload < 2 ? 2 : c->reload);
        if (period < MIN_PERIOD_NS)
            period = MIN_PERIOD_NS;
        qvm_timer_arm(p->timer, c->start_ns + period, period);
        return;
    }
    default:
        return;
    }
}

static void pit_timer(qvm_vdev_t *dev, void *state, void *arg)
{
    struct pit *p = state;
    (void)arg;
    p->irqs++;
    qvm_intr_pulse(dev, 0);
}

static void chan_start(struct chan *c, uint64_t now)
{
    c->start_ns = now;
    c->base_ticks = 0;
    c->frozen = 0;
}

static void chan_load(struct pit *p, int idx, uint32_t val, uint64_t now)
{
    struct chan *c = &p->ch[idx];
    c->reload = val ? val : 65536;
    c->armed = 1;
    c->null_count = 0;
    c->triggered = 0;
    c->held = (uint16_t)c->reload;
    chan_start(c, now);
    if ((c->mode == 0 || c->mode == 4 || c->mode == 2 || c->mode == 3) &&
        !c->gate) {
        c->frozen = 1;
        c->base_ticks = 0;
    }
    if (idx == 0)
        schedule_ch0(p);
}

static void chan_set_gate(struct pit *p, int idx, int gate, uint64_t now)
{
    struct chan *c = &p->ch[idx];
    int rising = gate && !c->gate;
    int falling = !gate && c->gate;
    c->gate = (uint8_t)gate;
    if (!c->armed)
        return;
    switch (c->mode) {
    case 0:
    case 4:
        if (falling && !c->frozen) {
            c->base_ticks = chan_ticks(c, now);
            c->frozen = 1;
        } else if (rising && c->frozen) {
            c->start_ns = now;
            c->frozen = 0;
        }
        break;
    case 2:
    case 3:
        if (falling) {
            c->base_ticks = chan_ticks(c, now);
            c->frozen = 1;
        } else if (rising) {
            chan_start(c, now);
        }
        break;
    default: /* 1, 5 */
        if (rising) {
            c->triggered = 1;
            chan_start(c, now);
        }
        break;
    }
    if (idx == 0)
        schedule_ch0(p);
}

static void latch_count(struct chan *c, uint64_t now)
{
    int out;
    if (c->latched)
        return;
    chan_state(c, now, &c->latch_val, &out);
    c->latched = 1;
    c->latch_hi_next = 0;
}

static void latch_status(struct chan *c, uint64_t now)
{
    uint16_t cnt;
    int out;
    if (c->status_latched)
        return;
    chan_state(c, now, &cnt, &out);
    c->status = (uint8_t)((out ? 0x80 : 0) | (c->null_count ? 0x40 : 0) |
                          (c->rw << 4) | (c->mode << 1));
    c->status_latched = 1;
}

static void control_word(qvm_vdev_t *dev, struct pit *p, uint8_t v,
                         uint64_t now)
{
    unsigned sc = v >> 6;
    if (sc == 3) { /* read-back */
        for (int i = 0; i < 3; i++) {
            if (!(v & (2u << i)))
                continue;
            if (!(v & 0x20))
                latch_count(&p->ch[i], now);
            if (!(v & 0x10))
                latch_status(&p->ch[i], now);
        }
        return;
    }
    struct chan *c = &p->ch[sc];
    unsigned rw = (v >> 4) & 3;
    if (rw == 0) {
        latch_count(c, now);
        return;
    }
    unsigned mode = (v >> 1) & 7;
    if (mode > 5)
        mode -= 4;
    if ((v & 1) && !p->bcd_logged) {
        p->bcd_logged = 1;
        qvm_log(dev, QVM_LOG_WARN, "BCD counting not supported; counting binary");
    }
    uint16_t cnt;
    int out;
    chan_state(c, now, &cnt, &out);
    c->held = cnt;
    c->mode = (uint8_t)mode;
    c->rw = (uint8_t)rw;
    c->armed = 0;
    c->triggered = 0;
    c->null_count = 1;
    c->frozen = 0;
    c->write_hi_next = 0;
    c->read_hi_next = 0;
    c->latched = 0;
    c->status_latched = 0;
    if (sc == 0)
        schedule_ch0(p);
}

static uint8_t counter_read(struct chan *c, uint64_t now)
{
    uint8_t v;
    if (c->status_latched) {
        c->status_latched = 0;
        return c->status;
    }
    if (c->latched) {
        if (c->rw == 1) {
            v = (uint8_t)c->latch_val;
            c->latched = 0;
        } else if (c->rw == 2) {
            v = (uint8_t)(c->latch_val >> 8);
            c->latched = 0;
        } else if (!c->latch_hi_next) {
            v = (uint8_t)c->latch_val;
            c->latch_hi_next = 1;
        } else {
            v = (uint8_t)(c->latch_val >> 8);
            c->latched = 0;
            c->latch_hi_next = 0;
        }
        return v;
    }
    uint16_t cnt;
    int out;
    chan_state(c, now, &cnt, &out);
    if (c->rw == 1)
        return (uint8_t)cnt;
    if (c->rw == 2)
        return (uint8_t)(cnt >> 8);
    v = c->read_hi_next ? (uint8_t)(cnt >> 8) : (uint8_t)cnt;
    c->read_hi_next ^= 1;
    return v;
}

static void counter_write(struct pit *p, int idx, uint8_t v, uint64_t now)
{
    struct chan *c = &p->ch[idx];
    switch (c->rw) {
    case 1:
        chan_load(p, idx, v, now);
        break;
    case 2:
        chan_load(p, idx, (uint32_t)v << 8, now);
        break;
    default:
        if (!c->write_hi_next) {
            c->write_lo = v;
            c->write_hi_next = 1;
        } else {
            c->write_hi_next = 0;
            chan_load(p, idx, c->write_lo | ((uint32_t)v << 8), now);
        }
        break;
    }
}

static uint8_t port61_read(struct pit *p, uint64_t now)
{
    uint16_t cnt;
    int out2;
    chan_state(&p->ch[2], now, &cnt, &out2);
    uint8_t v = p->port61 & 0x0F;
    if ((now / 15085) & 1)
        v |= 0x10;
    if (out2)
        v |= 0x20;
    return v;
}

static int pit_access(qvm_vdev_t *dev, struct pit *p,
                      const struct qvm_access *acc, uint8_t *data, int wr)
{
    uint64_t now = qvm_time_ns();
    uint64_t rsize = acc->region == 0 ? 4 : 1;
    if (acc->region > 1 || acc->size == 0 || acc->size > 8)
        return QVM_BUS_ERROR;
    for (unsigned i = 0; i < acc->size; i++) {
        uint64_t off = acc->offset + i;
        if (off >= rsize) {
            if (!wr)
                data[i] = 0xFF;
            continue;
        }
        if (acc->region == 1) {
            if (wr) {
                p->port61 = data[i] & 0x0F;
                chan_set_gate(p, 2, data[i] & 1, now);
            } else {
                data[i] = port61_read(p, now);
            }
        } else if (off == 3) {
            if (wr)
                control_word(dev, p, data[i], now);
            else
                data[i] = 0xFF;
        } else {
            if (wr)
                counter_write(p, (int)off, data[i], now);
            else
                data[i] = counter_read(&p->ch[off], now);
        }
    }
    return QVM_DONE;
}

static int pit_read(qvm_vdev_t *dev, void *state, const struct qvm_access *acc,
                    void *data)
{
    return pit_access(dev, state, acc, data, 0);
}

static int pit_write(qvm_vdev_t *dev, void *state, const struct qvm_access *acc,
                     void *data)
{
    return pit_access(dev, state, acc, data, 1);
}

static void pit_power_on(struct pit *p)
{
    for (int i = 0; i < 3; i++) {
        struct chan *c = &p->ch[i];
        memset(c, 0, sizeof *c);
        c->mode = 3;
        c->rw = 3;
        c->gate = i != 2;
        c->reload = 65536;
    }
    p->port61 = 0;
}

static int pit_control(qvm_vdev_t *dev, void *state, unsigned ctrl, int arg,
                       const char *value)
{
    struct pit *p = state;
    (void)arg;
    (void)value;
    switch (ctrl) {
    case QVM_CTRL_OPTIONS_START:
        pit_power_on(p);
        return 0;
    case QVM_CTRL_OPTION:
        return -EINVAL;
    case QVM_CTRL_OPTIONS_END: {
        static const uint64_t defaults[2] = {0x40, 0x61};
        static const uint64_t sizes[2] = {4, 1};
        for (unsigned i = 0; i < 2; i++) {
            uint32_t space = QVM_SPACE_IO;
            uint64_t base = defaults[i];
            if (i < qvm_loc_count(dev) && qvm_loc_get(dev, i, &space, &base))
                return -EINVAL;
            if (space != QVM_SPACE_IO) {
                qvm_log(dev, QVM_LOG_ERROR, "loc: the 8254 lives in io: space");
                return -EINVAL;
            }
            int rc = qvm_region_add(dev, QVM_SPACE_IO, base, sizes[i]);
            if (rc < 0)
                return rc;
            if (rc != (int)i)
                return -EINVAL;
        }
        if (qvm_intr_count(dev) == 0)
            return qvm_intr_default(dev, "ioapic", 2) < 0 ? -EINVAL : 0;
        return 0;
    }
    case QVM_CTRL_RESOURCES:
        if (!p->timer)
            p->timer = qvm_timer_create(dev, pit_timer, NULL);
        if (!p->timer) {
            qvm_log(dev, QVM_LOG_ERROR, "cannot create timer");
            return -ENOMEM;
        }
        return 0;
    case QVM_CTRL_GEN_ACPI:
        /* The 8254 timer's PNP id; qvm derives _CRS from our regions/intr. */
        return qvm_acpi_device(dev, "PNP0100", NULL);
    case QVM_CTRL_RESET:
        if (p->timer)
            qvm_timer_cancel(p->timer);
        pit_power_on(p);
        return 0;
    case QVM_CTRL_STATUS:
        for (int i = 0; i < 3; i++)
            qvm_log(dev, QVM_LOG_INFO,
                    "counter %d: mode %u rw %u reload %u armed %u gate %u", i,
                    p->ch[i].mode, p->ch[i].rw, p->ch[i].reload,
                    p->ch[i].armed, p->ch[i].gate);
        qvm_log(dev, QVM_LOG_INFO, "irqs %llu", (unsigned long long)p->irqs);
        return 0;
    case QVM_CTRL_TERMINATE:
        if (p->timer)
            qvm_timer_destroy(p->timer);
        p->timer = NULL;
        return 0;
    case QVM_CTRL_POWER_BUTTON:
        return -ENOTSUP;
    default:
        return 0;
    }
}

static const struct qvm_factory pit_factory = {
    .abi_major = QVM_VDEV_ABI_MAJOR,
    .abi_minor = QVM_VDEV_ABI_MINOR,
    .struct_size = sizeof(struct qvm_factory),
    .name = "timer8254",
    .description = "8254 programmable interval timer and port 0x61",
    .flags = QVM_VDEVF_SPACE_IO,
    .access_sizes = QVM_ACCESS_1 | QVM_ACCESS_2,
    .options = pit_options,
    .state_size = sizeof(struct pit),
    .control = pit_control,
    .read = pit_read,
    .write = pit_write,
    .pic = NULL,
};

static void __attribute__((constructor)) pit_register(void)
{
    qvm_register_factory(&pit_factory);
}
