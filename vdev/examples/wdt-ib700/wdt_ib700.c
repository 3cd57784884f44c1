/*
 * wdt-ib700: an IB700-style watchdog, built OUT OF TREE against the
 * installed qvm vdev SDK (see Makefile beside this file):
 *
 *     cc $(pkg-config --cflags qvm-vdev) -shared -fPIC -o vdev-wdt-ib700.so wdt_ib700.c
 *
 * It is the SDK's walk-through, not the device qvm ships: QNX's
 * `vdev wdt-ib700` (options `action [dump,]terminate|reset`) is
 * vdev/wdt-ib700; $QVM_VDEV_PATH, searched first, picks this one instead.
 *
 * Registers (I/O ports, default loc io:0x441, two regions like the board):
 *   0x441 write      stop the watchdog
 *   0x443 write v    set the timeout to (30 - 2 * (v & 15)) seconds (v = 15:
 *                    one second — the board's 0 s is not a usable timeout)
 *                    and start/ping it
 *   reads            0xff (the board's ports are write-only)
 * Options:
 *   action reset|poweroff|exit   what expiry does (default reset; exit ends
 *                                qvm with code 4, "watchdog")
 *   scale N                      divide every timeout by N (1..1000; tests
 *                                use it to keep runs short)
 * Status (SIGUSR1): armed, timeout, pings, expiries.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <qvm/vdev.h>

enum { ACTION_RESET, ACTION_POWEROFF, ACTION_EXIT };

struct wdt {
    qvm_timer_t *timer;
    int action;
    unsigned scale;
    int armed;
    unsigned timeout_s;
    unsigned long pings, expiries;
};

static const char *const wdt_options[] = {"action", "scale", NULL};

static void wdt_expired(qvm_vdev_t *dev, void *state, void *arg)
{
    struct wdt *w = state;
    (void)arg;
    if (!w->armed)
        return;
    w->armed = 0;
    w->expiries++;
    qvm_log(dev, QVM_LOG_WARN, "watchdog expired after %u s", w->timeout_s);
    qvm_power(dev, w->action == ACTION_EXIT ? QVM_POWER_WATCHDOG
                   : w->action == ACTION_POWEROFF ? QVM_POWER_OFF
                                                  : QVM_POWER_RESET);
}

static void wdt_ping(struct wdt *w)
{
    uint64_t ns = (uint64_t)w->timeout_s * 1000000000ull / w->scale;
    if (ns == 0)
        ns = 1000000;
    w->armed = 1;
    w->pings++;
    qvm_timer_arm_rel(w->timer, ns, 0);
}

static int wdt_control(qvm_vdev_t *dev, void *state, unsigned ctrl, int arg,
                       const char *value)
{
    struct wdt *w = state;
    switch (ctrl) {
    case QVM_CTRL_OPTIONS_START:
        w->scale = 1;
        w->action = ACTION_RESET;
        return 0;
    case QVM_CTRL_OPTION:
        if (arg == 0) {
            if (strcmp(value, "reset") == 0) w->action = ACTION_RESET;
            else if (strcmp(value, "poweroff") == 0) w->action = ACTION_POWEROFF;
            else if (strcmp(value, "exit") == 0) w->action = ACTION_EXIT;
            else return -EINVAL;
            return 0;
        }
        if (arg == 1) {
            char *end;
            unsigned long v = strtoul(value, &end, 0);
            if (*value == '\0' || *end != '\0' || v < 1 || v > 1000)
                return -EINVAL;
            w->scale = (unsigned)v;
            return 0;
        }
        return -EINVAL;
    case QVM_CTRL_OPTIONS_END: {
        uint32_t space = QVM_SPACE_IO;
        uint64_t base = 0x441;
        if (qvm_loc_count(dev) > 0 && qvm_loc_get(dev, 0, &space, &base) != 0)
            return -EINVAL;
        if (base > UINT64_MAX - 3)
            return -EINVAL;
        /* Two one-byte registers, 0x441 and 0x443 on the real board. */
        if (qvm_region_add(dev, space, base, 1) < 0 ||
            qvm_region_add(dev, space, base + 2, 1) < 0)
            return -EEXIST;
        return 0;
    }
    case QVM_CTRL_GEN_ACPI:
        /* x86 guests see the watchdog in the DSDT; qvm derives its _CRS
         * from our two port regions. Nothing outside this file changes. */
        return qvm_acpi_device(dev, "QVM0700", NULL);
    case QVM_CTRL_RESOURCES:
        w->timer = qvm_timer_create(dev, wdt_expired, NULL);
        return w->timer ? 0 : -ENOMEM;
    case QVM_CTRL_RESET:
        w->armed = 0;
        if (w->timer)
            qvm_timer_cancel(w->timer);
        return 0;
    case QVM_CTRL_STATUS:
        qvm_log(dev, QVM_LOG_INFO, "%s, timeout %u s, %lu pings, %lu expiries",
                w->armed ? "armed" : "stopped", w->timeout_s, w->pings,
                w->expiries);
        return 0;
    case QVM_CTRL_TERMINATE:
        if (w->timer)
            qvm_timer_destroy(w->timer);
        w->timer = NULL;
        return 0;
    default:
        return 0;
    }
}

static int wdt_read(qvm_vdev_t *dev, void *state, const struct qvm_access *acc,
                    void *data)
{
    (void)dev;
    (void)state;
    memset(data, 0xff, acc->size);
    return QVM_DONE;
}

static int wdt_write(qvm_vdev_t *dev, void *state, const struct qvm_access *acc,
                     void *data)
{
    struct wdt *w = state;
    (void)dev;
    if (acc->region == 0) {          /* 0x441: stop */
        w->armed = 0;
        qvm_timer_cancel(w->timer);
    } else {                         /* 0x443: timeout + start/ping */
        unsigned v = *(const uint8_t *)data & 15;
        w->timeout_s = v == 15 ? 1 : 30 - 2 * v;
        wdt_ping(w);
    }
    return QVM_DONE;
}

static const struct qvm_factory wdt_factory = {
    .abi_major = QVM_VDEV_ABI_MAJOR,
    .abi_minor = QVM_VDEV_ABI_MINOR,
    .struct_size = sizeof(struct qvm_factory),
    .name = "wdt-ib700",
    .description = "IB700-style watchdog timer (out-of-tree SDK example)",
    .flags = QVM_VDEVF_SPACE_IO | QVM_VDEVF_SPACE_MEM,
    .access_sizes = QVM_ACCESS_1,
    .options = wdt_options,
    .state_size = sizeof(struct wdt),
    .control = wdt_control,
    .read = wdt_read,
    .write = wdt_write,
    .version = "1.0",
};

static void __attribute__((constructor)) wdt_register(void)
{
    qvm_register_factory(&wdt_factory);
}
