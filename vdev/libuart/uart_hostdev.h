/*
 * libuart: QNX's `hostdev` option of the UART vdevs (ser8250, pl011), in
 * one place. Header only: each plug-in includes it and keeps a struct
 * uart_hostdev in its per-instance state. Uses only <qvm/vdev.h>.
 *
 *   hostdev [<|>]SPEC        given once: `>OUT` output only, `SPEC` (or
 *                            `-`) output and input
 *   hostdev <IN hostdev >OUT given twice: separate input and output
 *   hostdev >"|COMMAND"      output piped to `/bin/sh -c COMMAND` (QNX 8.0)
 *
 * The option is listed with QVM_OPTF_REPEAT (ABI 1.6). At most one input
 * and one output: a second of either is refused. The output (and, for a
 * SPEC without `<`/`>`, the input) comes from qvm_console_open, a separate
 * input from qvm_hostdev_open(`<IN`) (`<-`: qvm's stdin relay).
 *
 * `>|COMMAND`: the command is started at QVM_CTRL_GUEST_CONFIGURED (not by
 * a dry run; on the main thread before qvm's system-call filters, so no
 * vCPU thread ever forks) as `/bin/sh -c COMMAND` with its stdin the read
 * end of a pipe whose write end (non-blocking) is the UART's output; its
 * stdout and stderr are qvm's, its signal mask and SIGPIPE the defaults. A
 * command that exits makes the UART's writes fail (EPIPE: qvm ignores
 * SIGPIPE), which the device counts and logs once. A reaper thread (started
 * then too, so unfiltered) waits for the command through a pidfd, reaps it
 * and logs its status; at QVM_CTRL_TERMINATE the pipe is closed (EOF) and
 * the command has 2 s to finish, then gets SIGTERM, then SIGKILL 2 s
 * later, and is reaped. Should qvm die without TERMINATE, the command gets SIGTERM from
 * the kernel (PR_SET_PDEATHSIG) and sees EOF on its stdin.
 */
#ifndef QVM_LIBUART_HOSTDEV_H
#define QVM_LIBUART_HOSTDEV_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <qvm/vdev.h>

struct uart_hostdev {
    char out[256]; /* output SPEC as written (`>OUT` or `SPEC`), "" = default */
    char in[256];  /* separate input SPEC (`<IN`), "" = none */
    /* `>|COMMAND` (uart_hostdev_start/stop) */
    pid_t pid;     /* the command, 0 = none */
    int pidfd, stopfd;
    int reaping;   /* the reaper thread runs */
    int stopping;  /* TERMINATE: the command's end is no news */
    pthread_t reaper;
    qvm_vdev_t *dev;
    /* QNX's `delayed SECONDS|forever` (uart_delayed_*): 0 = not given,
     * else the seconds to keep trying + 1, or UART_DELAYED_FOREVER. */
    long long delayed;
    int dl_wake, dl_stop;   /* eventfds: the guest's first access; TERMINATE */
    int dl_requested;       /* the first access was signalled */
    int dl_running;         /* the opener thread runs */
    pthread_t dl_thread;
    void *dl_state;         /* the device's state, for dl_input */
    int *dl_out, *dl_in;    /* the device's fds, set under the instance lock */
    void (*dl_input)(qvm_vdev_t *dev, void *state, void *arg);
};

#define UART_DELAYED_FOREVER (-1LL)

static inline int uart_hostdev_is_cmd(const struct uart_hostdev *h)
{
    return h->out[0] == '>' && h->out[1] == '|';
}

/* QVM_CTRL_OPTION of `hostdev`: 0 or -EINVAL (logged). */
static inline int uart_hostdev_option(qvm_vdev_t *dev, struct uart_hostdev *h,
                                      const char *value)
{
    if (!value || !*value || strlen(value) >= sizeof h->out) {
        qvm_log(dev, QVM_LOG_ERROR, "option hostdev: bad value");
        return -EINVAL;
    }
    if (value[0] == '>' && value[1] == '|' && !value[2 + strspn(value + 2, " \t")]) {
        qvm_log(dev, QVM_LOG_ERROR, "hostdev >\"|COMMAND\": no command");
        return -EINVAL;
    }
    char *slot = value[0] == '<' ? h->in : h->out;
    if (slot[0] || (value[0] == '<' && h->out[0] && h->out[0] != '>') ||
        (value[0] != '<' && value[0] != '>' && h->in[0])) {
        qvm_log(dev, QVM_LOG_ERROR, "hostdev %s: a second %s (give at most one `<IN` "
                "and one `>OUT`, or one SPEC for both)", value,
                value[0] == '<' ? "input" : "output");
        return -EINVAL;
    }
    strcpy(slot, value);
    return 0;
}

/* At QVM_CTRL_OPTIONS_END: *out_fd for guest output and *in_fd for host
 * input (-1: none), both non-blocking and the device's to close. 0 or a
 * negative errno (logged). */
static inline int uart_delayed_check(qvm_vdev_t *dev, const struct uart_hostdev *h);

static inline int uart_hostdev_open(qvm_vdev_t *dev, const struct uart_hostdev *h,
                                    int *out_fd, int *in_fd)
{
    if (h->delayed) {
        /* opened by the opener thread after the guest's first access */
        *out_fd = -1;
        *in_fd = -1;
        return uart_delayed_check(dev, h);
    }
    if (uart_hostdev_is_cmd(h)) {
        /* started at GUEST_CONFIGURED (uart_hostdev_start) */
        *out_fd = -1;
        if (access("/bin/sh", X_OK) != 0) {
            qvm_log(dev, QVM_LOG_ERROR, "hostdev >\"%s\": no /bin/sh to run it", h->out + 1);
            return -ENOENT;
        }
    } else {
        int rc = qvm_console_open(dev, h->out[0] ? h->out : NULL, out_fd,
                                  h->in[0] ? NULL : in_fd);
        if (rc < 0) {
            qvm_log(dev, QVM_LOG_ERROR, "option hostdev '%s': %s", h->out,
                    rc == -EINVAL ? "not an output" : "cannot open");
            return rc;
        }
    }
    if (!h->in[0])
        return 0;
    int fd = qvm_hostdev_open(dev, h->in, 0);
    if (fd < 0) {
        qvm_log(dev, QVM_LOG_ERROR, "option hostdev '%s': cannot open", h->in);
        if (*out_fd >= 0)
            close(*out_fd);
        *out_fd = -1;
        return -ENOENT;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    *in_fd = fd;
    return 0;
}

/* The system calls the reaper (wait4, kill) and the `delayed` opener
 * (openat) need beyond qvm's device-thread list: the UART factories name
 * these in `thread_syscalls` (vdev ABI 1.8). */
static const char *const uart_thread_syscalls[] = {"wait4", "kill", "openat", NULL};

/* The reaper of a `>|COMMAND`: a device thread (qvm_thread_create) under
 * qvm's system-call filter with uart_thread_syscalls. */
static inline void *uart_hostdev_reaper(void *arg)
{
    struct uart_hostdev *h = (struct uart_hostdev *)arg;
    struct pollfd p[2] = {{h->pidfd, POLLIN, 0}, {h->stopfd, POLLIN, 0}};
    for (;;) {
        int n = poll(p, 2, -1);
        if (n > 0 || errno != EINTR)
            break;
    }
    if (!(p[0].revents & POLLIN)) {
        /* asked to stop, the pipe closed: 2 s to finish its input, then
         * SIGTERM, then SIGKILL */
        if (poll(p, 1, 2000) == 0) {
            kill(h->pid, SIGTERM);
            if (poll(p, 1, 2000) == 0)
                kill(h->pid, SIGKILL);
        }
    }
    int st = 0;
    while (waitpid(h->pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (!__atomic_load_n(&h->stopping, __ATOMIC_ACQUIRE)) {
        if (WIFEXITED(st))
            qvm_log(h->dev, QVM_LOG_WARN, "hostdev >\"%s\": the command exited with status "
                    "%d; further output is dropped", h->out + 1, WEXITSTATUS(st));
        else
            qvm_log(h->dev, QVM_LOG_WARN, "hostdev >\"%s\": the command ended by signal %d; "
                    "further output is dropped", h->out + 1, WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    }
    return NULL;
}

/* At QVM_CTRL_GUEST_CONFIGURED: starts a `>|COMMAND` (nothing otherwise);
 * *out_fd becomes the pipe to its stdin. 0, or a negative errno (logged;
 * the output is then dropped). */
static inline int uart_hostdev_start(qvm_vdev_t *dev, struct uart_hostdev *h, int *out_fd)
{
    if (!uart_hostdev_is_cmd(h) || h->pid)
        return 0;
    const char *cmd = h->out + 2;
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        int e = errno;
        qvm_log(dev, QVM_LOG_ERROR, "hostdev >\"%s\": no pipe: %s", h->out + 1, strerror(e));
        return -e;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        /* only async-signal-safe calls from here */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        sigaction(SIGPIPE, &dfl, NULL);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(127);
        if (dup2(p[0], 0) < 0)
            _exit(127);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(p[0]);
    if (pid < 0) {
        int e = errno;
        close(p[1]);
        qvm_log(dev, QVM_LOG_ERROR, "hostdev >\"%s\": cannot start: %s", h->out + 1,
                strerror(e));
        return -e;
    }
    fcntl(p[1], F_SETFL, fcntl(p[1], F_GETFL) | O_NONBLOCK);
    *out_fd = p[1];
    h->pid = pid;
    h->dev = dev;
    h->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    h->stopfd = eventfd(0, EFD_CLOEXEC);
    if (h->pidfd >= 0 && h->stopfd >= 0 &&
        qvm_thread_create(dev, &h->reaper, "uart-reap", uart_hostdev_reaper, h) == 0) {
        h->reaping = 1;
    } else {
        qvm_log(dev, QVM_LOG_WARN, "hostdev >\"%s\": no reaper thread (pidfd: %s): the "
                "command is reaped when qvm ends", h->out + 1, h->pidfd < 0 ? "none" : "ok");
    }
    qvm_log(dev, QVM_LOG_INFO, "hostdev >\"%s\": output piped to process %d", h->out + 1,
            (int)pid);
    return 0;
}

/* At QVM_CTRL_TERMINATE: closes the output (*out_fd), then ends and reaps
 * a `>|COMMAND` (see above). */
static inline void uart_hostdev_stop(struct uart_hostdev *h, int *out_fd)
{
    /* a command that ended on its own before now is still reported */
    struct pollfd ended = {h->pid && h->reaping ? h->pidfd : -1, POLLIN, 0};
    if (ended.fd < 0 || poll(&ended, 1, 0) != 1)
        __atomic_store_n(&h->stopping, 1, __ATOMIC_RELEASE);
    if (*out_fd >= 0)
        close(*out_fd);
    *out_fd = -1;
    if (!h->pid)
        return;
    if (h->reaping) {
        uint64_t one = 1;
        if (write(h->stopfd, &one, sizeof one) != (ssize_t)sizeof one)
            kill(h->pid, SIGTERM);
        pthread_join(h->reaper, NULL);
        h->reaping = 0;
    }
    if (h->pidfd >= 0)
        close(h->pidfd);
    if (h->stopfd >= 0)
        close(h->stopfd);
    h->pidfd = h->stopfd = -1;
    h->pid = 0;
}

/* QNX's `sched PRIORITY` and `batch MICROSECONDS` (a number up to
 * 0xffffffff): accepted with a note saying they have no effect here. */
static inline int uart_qnx_sched_batch(qvm_vdev_t *dev, const char *name, const char *value)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = value && *value && *value != '-' ? strtoull(value, &end, 0) : 0;
    if (!end || *end || errno || v > 0xffffffffull) {
        qvm_log(dev, QVM_LOG_ERROR, "%s: want a number", name);
        return -EINVAL;
    }
    qvm_log(dev, QVM_LOG_INFO, "%s %s: no effect here (input arrives on qvm's event "
            "loop; output is written as the guest writes it)", name, value);
    return 0;
}

/*
 * QNX's `delayed SECONDS|forever`: the host device is opened after the
 * guest's first access to the UART, trying again while it is missing for
 * SECONDS (0: once; `forever`: until it appears or qvm ends). The open
 * runs on an opener thread the device starts at GUEST_CONFIGURED (a vCPU
 * thread may not open files under qvm's system-call filter, and a thread
 * started from one would inherit that filter); the vCPU only signals it.
 * Every part of `hostdev` must then be a host path (`PATH`, `>OUT`,
 * `<IN`): qvm's console (`-`) is always there and a `>|COMMAND` is started
 * at set-up, so neither can be delayed (refused). The UART opens the paths
 * itself, without O_CREAT (a device that "is not found" is retried, not
 * created): `PATH` read/write, `>OUT` write-only appending, `<IN`
 * read-only, all non-blocking (a FIFO without a reader is "not found" yet).
 * Until the open succeeds the guest's output is dropped and there is no
 * input, as on a UART with nothing attached; a failed wait is logged and
 * the UART stays so. Input, once open (not from a regular file), is
 * polled by the same thread, which calls the device's input function with
 * the instance lock held, as qvm_fd_watch would; it stops at the end of
 * input (POLLHUP) and at TERMINATE.
 */
#define UART_DELAYED_RETRY_MS 100

/* QVM_CTRL_OPTION `delayed`: 0 or -EINVAL (logged). */
static inline int uart_delayed_option(qvm_vdev_t *dev, struct uart_hostdev *h,
                                      const char *value)
{
    if (value && strcmp(value, "forever") == 0) {
        h->delayed = UART_DELAYED_FOREVER;
        return 0;
    }
    char *end = NULL;
    errno = 0;
    unsigned long long v = value && *value >= '0' && *value <= '9' ? strtoull(value, &end, 10) : 0;
    if (!end || *end || errno || v > 0x7fffffffull) {
        qvm_log(dev, QVM_LOG_ERROR, "delayed: want SECONDS (0 to 2147483647) or `forever`");
        return -EINVAL;
    }
    h->delayed = (long long)v + 1;
    return 0;
}

static inline int uart_delayed_check(qvm_vdev_t *dev, const struct uart_hostdev *h)
{
    const char *why = NULL;
    if (uart_hostdev_is_cmd(h))
        why = "a `>|COMMAND` is started at set-up";
    else if (!h->out[0] || strcmp(h->out, "-") == 0 || strcmp(h->out, ">-") == 0 ||
             strcmp(h->in, "<-") == 0)
        why = "qvm's console (`-`, the default) is always there";
    else if (h->out[0] == '>' && !h->out[1])
        why = "no path";
    if (why) {
        qvm_log(dev, QVM_LOG_ERROR, "delayed: only a host path can be opened later (give "
                "`hostdev PATH`, or `<IN` and `>OUT`): %s", why);
        return -EINVAL;
    }
    return 0;
}

/* One try: both parts open, or neither (0, else -errno of the first). */
static inline int uart_delayed_try(const struct uart_hostdev *h, int *out, int *in)
{
    const int fl = O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
    *out = *in = -1;
    if (h->out[0] != '>') {
        int fd = open(h->out, O_RDWR | fl);
        if (fd < 0)
            return -errno;
        *out = fd;
        *in = dup(fd);
        return 0;
    }
    int o = open(h->out + 1, O_WRONLY | O_APPEND | fl);
    if (o < 0)
        return -errno;
    if (h->in[0]) {
        int i = open(h->in + 1, O_RDONLY | fl);
        if (i < 0) {
            int e = errno;
            close(o);
            return -e;
        }
        *in = i;
    }
    *out = o;
    return 0;
}

static inline long long uart_delayed_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void *uart_delayed_main(void *arg)
{
    struct uart_hostdev *h = (struct uart_hostdev *)arg;
    qvm_vdev_t *dev = h->dev;
    struct pollfd p[2] = {{h->dl_stop, POLLIN, 0}, {h->dl_wake, POLLIN, 0}};
    for (;;) { /* the guest's first access, or TERMINATE */
        int n = poll(p, 2, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || (p[0].revents & POLLIN))
            return NULL;
        if (p[1].revents & POLLIN)
            break;
    }
    long long deadline = h->delayed == UART_DELAYED_FOREVER
                             ? -1 : uart_delayed_now_ms() + (h->delayed - 1) * 1000;
    int out = -1, in = -1, rc;
    unsigned long long tries = 0;
    for (;;) {
        tries++;
        rc = uart_delayed_try(h, &out, &in);
        if (rc == 0)
            break;
        long long now = uart_delayed_now_ms();
        if (deadline >= 0 && now >= deadline) {
            qvm_log(dev, QVM_LOG_ERROR, "delayed: hostdev %s%s%s: %s after %llu tries; the UART "
                    "stays without a host side (output dropped, no input)", h->out,
                    h->in[0] ? " " : "", h->in, strerror(-rc), tries);
            return NULL;
        }
        long long wait = UART_DELAYED_RETRY_MS;
        if (deadline >= 0 && deadline - now < wait)
            wait = deadline - now;
        int n = poll(p, 1, (int)wait);
        if (n > 0)
            return NULL; /* TERMINATE */
    }
    struct stat st;
    if (in >= 0 && fstat(in, &st) == 0 && S_ISREG(st.st_mode)) {
        close(in); /* a regular file is always readable: no input from it */
        in = -1;
    }
    qvm_dev_lock(dev);
    *h->dl_out = out;
    *h->dl_in = in;
    qvm_dev_unlock(dev);
    qvm_log(dev, QVM_LOG_INFO, "delayed: hostdev %s%s%s opened after the guest's first "
            "access (%llu %s)", h->out, h->in[0] ? " " : "", h->in, tries,
            tries == 1 ? "try" : "tries");
    if (in < 0)
        return NULL;
    p[1].fd = in;
    p[1].events = POLLIN;
    for (;;) { /* input, as qvm_fd_watch would deliver it */
        int n = poll(p, 2, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || (p[0].revents & POLLIN))
            return NULL;
        if (p[1].revents & POLLIN) {
            qvm_dev_lock(dev);
            h->dl_input(dev, h->dl_state, NULL);
            qvm_dev_unlock(dev);
        } else if (p[1].revents & (POLLHUP | POLLERR | POLLNVAL)) {
            return NULL; /* end of input */
        }
    }
}

/* At QVM_CTRL_GUEST_CONFIGURED: starts the opener (nothing without
 * `delayed`). `state`, `out_fd`, `in_fd` and `input` are the device's:
 * the thread sets the fds and calls `input` with the instance lock held.
 * 0 or a negative errno (logged: the UART then has no host side). */
static inline int uart_delayed_start(qvm_vdev_t *dev, struct uart_hostdev *h, void *state,
                                     int *out_fd, int *in_fd,
                                     void (*input)(qvm_vdev_t *, void *, void *))
{
    if (!h->delayed || h->dl_running)
        return 0;
    h->dev = dev;
    h->dl_state = state;
    h->dl_out = out_fd;
    h->dl_in = in_fd;
    h->dl_input = input;
    h->dl_wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    h->dl_stop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (h->dl_wake < 0 || h->dl_stop < 0 ||
        qvm_thread_create(dev, &h->dl_thread, "uart-open", uart_delayed_main, h) != 0) {
        qvm_log(dev, QVM_LOG_ERROR, "delayed: no opener thread: the UART has no host side");
        return -EAGAIN;
    }
    h->dl_running = 1;
    return 0;
}

/* On every guest access (instance lock held, vCPU thread): the first one
 * wakes the opener. */
static inline void uart_delayed_touch(struct uart_hostdev *h)
{
    if (!h->dl_running || h->dl_requested)
        return;
    h->dl_requested = 1;
    uint64_t one = 1;
    if (write(h->dl_wake, &one, sizeof one) != (ssize_t)sizeof one)
        h->dl_requested = 0; /* the next access tries again */
}

/* At QVM_CTRL_TERMINATE, called with the instance lock held (the opener
 * takes it: released while it is joined; nothing else runs then). */
static inline void uart_delayed_stop(qvm_vdev_t *dev, struct uart_hostdev *h)
{
    if (h->dl_running) {
        uint64_t one = 1;
        ssize_t w = write(h->dl_stop, &one, sizeof one);
        (void)w;
        qvm_dev_unlock(dev);
        pthread_join(h->dl_thread, NULL);
        qvm_dev_lock(dev);
        h->dl_running = 0;
    }
    if (h->dl_wake > 0)
        close(h->dl_wake);
    if (h->dl_stop > 0)
        close(h->dl_stop);
    h->dl_wake = h->dl_stop = -1;
}

#endif
