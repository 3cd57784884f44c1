/*
 * wdt-ib700: the IB700 single-board computer's watchdog, as QNX's
 * `vdev wdt-ib700` (x86 only), for guests that kick it with QNX's wdtkick
 * or Linux's ib700wdt.
 *
 * Registers: I/O ports at `loc` (default io:0x441, the board's), one
 * three-port region [loc, loc+3), byte accesses:
 *   loc+0 (0x441) write      stops the watchdog
 *   loc+2 (0x443) write v    sets the timeout to 30 - 2 * (v & 15) seconds
 *                            (30, 28, ... 2, 0: the board's table; 0 expires
 *                            at once) and starts the count from there: a
 *                            kick is the same write again
 *   loc+1 write, any read    ignored / 0xff (the board's ports are
 *                            write-only; QNX's vdev serves no reads)
 * Other widths are refused by qvm (the factory takes 1-byte accesses).
 * The count runs on qvm's clock (a host timer), stopped by a write to
 * loc+0, by an expiry and by a guest reset.
 *
 * Options:
 *   action [dump,]terminate|reset   (default terminate, QNX's) what an
 *                      expiry does: terminate: qvm exits with code 4
 *                      ("watchdog"); reset: the VM resets in place; `dump,`
 *                      first asks qvm for a guest dump (qvm_guest_dump, ABI
 *                      1.7), then does the rest once it is written; `dump`
 *                      alone is dump,terminate. `fiq` is refused: the IB700
 *                      has no interrupt line. Parsed by
 *                      vdev/libwdt/wdt_action.h.
 *   loc [io:]PORT      the first port (0..0xfffd); a `mem:` loc is refused
 *                      (the IB700's registers are I/O ports), and so is the
 *                      device itself when built for another architecture
 *                      than x86 (KVM's guests are the host's: no I/O ports).
 * Status (SIGUSR1): running or stopped, timeout, kicks, stops, expiries.
 * Depends only on <qvm/vdev.h>.
 */
#include <qvm/vdev.h>

#include <errno.h>
#include <string.h>

#include "../libwdt/wdt_action.h"

#define IB700_PORT 0x441u
#define IB700_PORTS 3u
#define REG_STOP 0u
#define REG_START 2u

struct ib700 {
    struct wdt_action action;
    qvm_timer_t *timer;
    int running;
    unsigned timeout_s;
    unsigned long long kicks, stops, expiries;
};

static const char *const ib700_options[] = {"action", NULL};

static void ib700_expired(qvm_vdev_t *dev, void *state, void *arg)
{
    struct ib700 *w = state;
    (void)arg;
    if (w->running) { /* a stop may have raced with the timer */
        w->running = 0;
        w->expiries++;
        qvm_log(dev, QVM_LOG_WARN, "watchdog expired (timeout %u s): %s", w->timeout_s,
                wdt_action_text(&w->action));
        wdt_action_expire(dev, &w->action, 1);
    }
}

static void ib700_stop(struct ib700 *w)
{
    w->running = 0;
    if (w->timer)
        qvm_timer_cancel(w->timer);
}

static int ib700_read(qvm_vdev_t *dev, void *state, const struct qvm_access *acc,
                      void *data)
{
    (void)dev;
    (void)state;
    memset(data, 0xff, acc->size <= 8 ? acc->size : 8);
    return QVM_DONE;
}

static int ib700_write(qvm_vdev_t *dev, void *state, const struct qvm_access *acc,
                       void *data)
{
    struct ib700 *w = state;
    (void)dev;
    if (acc->offset == REG_STOP) {
        w->stops++;
        ib700_stop(w);
    } else if (acc->offset == REG_START && w->timer) {
        unsigned v = *(const uint8_t *)data & 15u;
        w->timeout_s = 30u - 2u * v;
        w->running = 1;
        w->kicks++;
        qvm_timer_arm_rel(w->timer, (uint64_t)w->timeout_s * 1000000000ull, 0);
    }
    return QVM_DONE;
}

static int ib700_region(qvm_vdev_t *dev)
{
#if !defined(__x86_64__) && !defined(__i386__)
    /* KVM runs guests of the host's architecture, the one this plug-in
     * was built for: there are no I/O ports for the registers. */
    qvm_log(dev, QVM_LOG_ERROR, "x86 only: the IB700's registers are I/O ports, which "
            "this machine's guests do not have (arm guests: vdev wdt-sp805)");
    return -ENOTSUP;
#endif
    uint32_t space = QVM_SPACE_IO;
    uint64_t port = IB700_PORT;
    if (qvm_loc_count(dev) > 0 && qvm_loc_get(dev, 0, &space, &port) != 0)
        return -EINVAL;
    if (space != QVM_SPACE_IO) {
        qvm_log(dev, QVM_LOG_ERROR, "loc: the IB700's registers are I/O ports "
                "(loc io:PORT, default io:0x441)");
        return -EINVAL;
    }
    if (port > 0x10000u - IB700_PORTS) {
        qvm_log(dev, QVM_LOG_ERROR, "loc io:0x%llx: the three ports must lie below 0x10000",
                (unsigned long long)port);
        return -EINVAL;
    }
    int rc = qvm_region_add(dev, QVM_SPACE_IO, port, IB700_PORTS);
    return rc < 0 ? rc : 0;
}

static int ib700_control(qvm_vdev_t *dev, void *state, unsigned ctrl, int arg,
                         const char *value)
{
    struct ib700 *w = state;
    static const char *const refused[3] = {NULL, NULL, "the IB700 has no interrupt line"};
    switch (ctrl) {
    case QVM_CTRL_OPTIONS_START:
        wdt_action_default(&w->action);
        return 0;
    case QVM_CTRL_OPTION:
        return arg == 0 ? wdt_action_parse(dev, value, refused, &w->action) : -EINVAL;
    case QVM_CTRL_OPTIONS_END:
        return ib700_region(dev);
    case QVM_CTRL_RESOURCES:
        w->timer = qvm_timer_create(dev, ib700_expired, NULL);
        return w->timer ? 0 : -ENOMEM;
    case QVM_CTRL_RESET:
        ib700_stop(w);
        return 0;
    case QVM_CTRL_STATUS:
        qvm_log(dev, QVM_LOG_INFO, "%s, timeout %u s, action %s%s; %llu kicks, %llu stops, "
                "%llu expiries", w->running ? "running" : "stopped", w->timeout_s,
                w->action.dump ? "dump," : "", wdt_follow_names[w->action.follow], w->kicks,
                w->stops, w->expiries);
        return 0;
    default:
        return wdt_control_end(ctrl, &w->timer);
    }
}

static const struct qvm_factory ib700_factory = {
    .abi_major = QVM_VDEV_ABI_MAJOR,
    .abi_minor = QVM_VDEV_ABI_MINOR,
    .struct_size = sizeof(struct qvm_factory),
    .name = "wdt-ib700",
    .description = "IB700 watchdog (x86 I/O ports 0x441, 0x443)",
    .version = "1.0",
    .flags = QVM_VDEVF_SPACE_IO,
    .access_sizes = QVM_ACCESS_1,
    .options = ib700_options,
    .state_size = sizeof(struct ib700),
    .control = ib700_control,
    .read = ib700_read,
    .write = ib700_write,
};

static void __attribute__((constructor)) ib700_register(void)
{
    qvm_register_factory(&ib700_factory);
}
