/* vdev "systhread" (test only, test/seccomp/run.sh): the same register as
 * sysopen.c, but the open happens on a thread of the device started with
 * qvm_thread_create (vdev ABI 1.8) at GUEST_CONFIGURED, under qvm's filter
 * for device threads. Built twice: as vdev-systhread.so, whose factory
 * declares no system call (the thread's open must end qvm with exit 7
 * naming `openat` and the thread `systhread-w`), and with -DDECLARE as
 * vdev-systhread-decl.so, whose factory declares "openat" in
 * thread_syscalls (the open succeeds); with -DBADNAME as
 * vdev-systhread-bad.so, which declares a name qvm does not know (refused
 * when it is loaded: exit 65). A register write hands the open to
 * the thread and waits for its answer; a read returns 1 when that open
 * succeeded, 0x100 + errno when it failed, 0 before any write. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include <qvm/vdev.h>

#if defined(DECLARE)
#define NAME "systhread-decl"
static const char *const calls[] = {"openat", NULL};
#elif defined(BADNAME)
#define NAME "systhread-bad"
static const char *const calls[] = {"openat", "no_such_call", NULL};
#else
#define NAME "systhread"
static const char *const calls[] = {NULL};
#endif

struct st {
    qvm_vdev_t *dev;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int request, quit, running;
    uint32_t result;
    pthread_t th;
};

static void *worker(void *arg)
{
    struct st *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->request && !s->quit) pthread_cond_wait(&s->cv, &s->mu);
        if (s->quit) break;
        int fd = open("/etc/hostname", O_RDONLY | O_CLOEXEC);
        s->result = fd >= 0 ? 1 : 0x100u + (uint32_t)errno;
        if (fd >= 0) close(fd);
        s->request = 0;
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static int ctl(qvm_vdev_t *dev, void *state, unsigned ctrl, int arg, const char *v)
{
    struct st *s = state;
    (void)arg; (void)v;
    switch (ctrl) {
    case QVM_CTRL_OPTIONS_END: {
        uint32_t space;
        uint64_t base;
        if (qvm_loc_get(dev, 0, &space, &base) != 0) return -EINVAL;
        return qvm_region_add(dev, space, base, 4) < 0 ? -EEXIST : 0;
    }
    case QVM_CTRL_GUEST_CONFIGURED: {
        s->dev = dev;
        pthread_mutex_init(&s->mu, NULL);
        pthread_cond_init(&s->cv, NULL);
        int rc = qvm_thread_create(dev, &s->th, "systhread-w", worker, s);
        if (rc != 0) {
            qvm_log(dev, QVM_LOG_ERROR, "qvm_thread_create: %s", strerror(-rc));
            return rc;
        }
        s->running = 1;
        return 0;
    }
    case QVM_CTRL_TERMINATE:
        if (s->running) {
            pthread_mutex_lock(&s->mu);
            s->quit = 1;
            pthread_cond_broadcast(&s->cv);
            pthread_mutex_unlock(&s->mu);
            pthread_join(s->th, NULL);
            s->running = 0;
        }
        return 0;
    }
    return 0;
}

static int rd(qvm_vdev_t *dev, void *state, const struct qvm_access *a, void *d)
{
    struct st *s = state;
    (void)dev;
    memcpy(d, &s->result, a->size < 4 ? a->size : 4);
    return QVM_DONE;
}

static int wr(qvm_vdev_t *dev, void *state, const struct qvm_access *a, void *d)
{
    struct st *s = state;
    (void)a; (void)d;
    if (!s->running) {
        s->result = 0x100u + ESRCH;
        return QVM_DONE;
    }
    pthread_mutex_lock(&s->mu);
    s->request = 1;
    pthread_cond_broadcast(&s->cv);
    while (s->request) pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    qvm_log(dev, QVM_LOG_INFO, "worker's open(/etc/hostname): %s",
            s->result == 1 ? "succeeded" : strerror((int)(s->result - 0x100u)));
    return QVM_DONE;
}

static const struct qvm_factory f = {
    .abi_major = QVM_VDEV_ABI_MAJOR, .abi_minor = QVM_VDEV_ABI_MINOR,
    .struct_size = sizeof(struct qvm_factory),
    .name = NAME, .description = "test: opens a file on a thread from qvm_thread_create",
    .flags = QVM_VDEVF_NEEDS_LOC | QVM_VDEVF_SPACE_IO,
    .access_sizes = QVM_ACCESS_4, .state_size = sizeof(struct st),
    .control = ctl, .read = rd, .write = wr,
    .thread_syscalls = calls,
};

static void __attribute__((constructor)) reg(void) { qvm_register_factory(&f); }
