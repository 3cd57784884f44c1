/*
 * libwdt: QNX's watchdog `action` option and what an expiry does, shared by
 * the watchdog vdevs (wdt-sp805, wdt-ib700). Header only: each plug-in
 * includes it and keeps a struct wdt_action in its per-instance state.
 * Uses only <qvm/vdev.h>.
 *
 *   action [dump,]terminate|reset|fiq
 *     terminate  qvm exits with code 4 ("watchdog"; QNX: the qvm process
 *                ends, SIGQUIT); QNX's default
 *     reset      the VM resets in place (qvm's addition)
 *     fiq        an edge on the device's interrupt line (the device's own
 *                business: wdt_action_expire says so)
 *     dump,      first a guest dump (qvm_guest_dump, ABI 1.7: written by
 *                qvm's main loop after the expiring callback returned, the
 *                same dump as SIGUSR2 and `qvmctl dump`), then the action
 *                after the comma, once the dump is written
 *   action dump  the same as `dump,terminate` (the default follow-up)
 * A device that cannot do one of the follow-ups passes its reason to
 * wdt_action_parse, which refuses that value with it.
 */
#ifndef QVM_LIBWDT_ACTION_H
#define QVM_LIBWDT_ACTION_H

#include <errno.h>
#include <string.h>

#include <qvm/vdev.h>

enum wdt_follow { WDT_TERMINATE, WDT_RESET, WDT_FIQ };

struct wdt_action {
    int dump;   /* write a guest dump first */
    int follow; /* enum wdt_follow */
};

static const char *const wdt_follow_names[] = {"terminate", "reset", "fiq"};

/* The default: terminate, no dump. */
static inline void wdt_action_default(struct wdt_action *a)
{
    a->dump = 0;
    a->follow = WDT_TERMINATE;
}

/* Parses one `action` value into *a. `refused[i]` is NULL when follow-up i
 * (enum wdt_follow) is available, else the reason it is not. Returns 0, or
 * -EINVAL after logging why. */
static inline int wdt_action_parse(qvm_vdev_t *dev, const char *value,
                                   const char *const refused[3],
                                   struct wdt_action *a)
{
    const char *rest = value ? value : "";
    int dump = 0;
    if (strncmp(rest, "dump", 4) == 0 && (rest[4] == '\0' || rest[4] == ',')) {
        dump = 1;
        rest += rest[4] == ',' ? 5 : 4;
        if (*rest == '\0' && value[4] == ',') {
            qvm_log(dev, QVM_LOG_ERROR, "option action '%s': nothing after `dump,` "
                    "(expected dump,terminate, dump,reset or dump,fiq)", value);
            return -EINVAL;
        }
    }
    int follow = -1;
    if (*rest == '\0' && dump)
        follow = WDT_TERMINATE;
    for (int i = 0; i < 3 && follow < 0; i++)
        if (strcmp(rest, wdt_follow_names[i]) == 0)
            follow = i;
    if (follow < 0) {
        qvm_log(dev, QVM_LOG_ERROR, "option action '%s': expected [dump,]terminate, "
                "[dump,]reset or [dump,]fiq", value ? value : "");
        return -EINVAL;
    }
    if (refused[follow]) {
        qvm_log(dev, QVM_LOG_ERROR, "option action '%s': %s", value, refused[follow]);
        return -EINVAL;
    }
    a->dump = dump;
    a->follow = follow;
    return 0;
}

/* What the action says, for logs: "dumping the guest, then terminating". */
static inline const char *wdt_action_text(const struct wdt_action *a)
{
    static const char *const text[2][3] = {
        {"terminating", "resetting the VM", "fiq edge"},
        {"dumping the guest, then terminating", "dumping the guest, then resetting the VM",
         "dumping the guest, fiq edge"},
    };
    return text[a->dump != 0][a->follow];
}

/* The watchdog expired: asks for the dump (when configured) and the power
 * follow-up (the dump's, so that it comes after the dump is written).
 * `dump_now` is 0 when the device already dumped in this expiry (fiq
 * repeats). Returns 1 when the device must now raise its fiq edge, else 0. */
static inline int wdt_action_expire(qvm_vdev_t *dev, const struct wdt_action *a,
                                    int dump_now)
{
    int power = a->follow == WDT_RESET ? QVM_POWER_RESET : QVM_POWER_WATCHDOG;
    if (a->dump && dump_now) {
        int then = a->follow == WDT_FIQ ? QVM_DUMP_CONTINUE : power;
        int rc = qvm_guest_dump(dev, then);
        if (rc == 0)
            return a->follow == WDT_FIQ;
        qvm_log(dev, QVM_LOG_ERROR, "watchdog: guest dump refused (%s)", strerror(-rc));
    }
    if (a->follow == WDT_FIQ)
        return 1;
    qvm_power(dev, power);
    return 0;
}

/* QVM_CTRL_TERMINATE and QVM_CTRL_POWER_BUTTON of a watchdog with one
 * timer: the timer goes; a watchdog has no button. */
static inline int wdt_control_end(unsigned ctrl, qvm_timer_t **timer)
{
    if (ctrl == QVM_CTRL_POWER_BUTTON)
        return -ENOTSUP;
    if (ctrl == QVM_CTRL_TERMINATE && *timer) {
        qvm_timer_destroy(*timer);
        *timer = NULL;
    }
    return 0;
}

#endif /* QVM_LIBWDT_ACTION_H */
