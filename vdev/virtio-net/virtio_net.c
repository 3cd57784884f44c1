/*
 * virtio-net: one receive and one transmit queue, over virtio-pci (or
 * virtio-mmio with `loc mem:` + `intr`).
 *   hostdev TAP     a tap interface (opened, or created when missing) via
 *                   /dev/net/tun with IFF_TAP|IFF_NO_PI|IFF_VNET_HDR;
 *                   checksum/TSO offloads pass through in the vnet header
 *   peer NAME       a direct link to the virtio-net of another qvm naming
 *                   the same peer, over an AF_UNIX SOCK_SEQPACKET socket at
 *                   <runtime dir>/net-peers/NAME (NAME starting with '/' is
 *                   the socket path itself when its directory exists, else
 *                   <runtime dir>/net-peers/ + its components joined by '_',
 *                   so QNX's /dev/vdevpeers/vp0 works); raw frames, one per
 *                   packet
 *   peerfeats MASK  QNX's peer feature bits: accepted, no effect (logged)
 *   mac XX:..:XX    the MAC address (default: stable, locally administered)
 *   mrgrxbuf on|off offer VIRTIO_NET_F_MRG_RXBUF (default on)
 *   notify eventfd|exit   eventfd (default): the guest's queue kicks land on
 *                   ABI 1.3 ioeventfds (no VM exit) that qvm's event thread
 *                   watches, completions go out through MSI irqfds (PCI) or
 *                   qvm_intr_set (virtio-mmio); exit: kicks are VM exits
 *                   whose write callback arms a zero-delay timer (also the
 *                   fallback where qvm answers -ENOTSUP)
 * Frames move on qvm's event thread either way: the backend fd is watched
 * for receive, kicks run the transmit queue. Each run moves a bounded
 * number of frames and re-arms itself when more remain.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <qvm/vdev.h>

#include "net_core.h"
#include "virtio.h"

#define TX_BUDGET 256u
#define RX_BUDGET 64u


enum { BE_NONE, BE_TAP, BE_PEER };

struct net {
    struct vnet n;          /* first (vio_ops cast back to it) */
    qvm_vdev_t *dev;
    int be;
    char tap[IFNAMSIZ];
    char peer[96];
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    uint8_t mac[6];
    int have_mac, mrg;
    int legacy;             /* QNX's `legacy`: the virtio 0.9.5 PCI transport */
    int listen_fd, listening, watching;
    int role_listener;
    ino_t listen_ino;
    qvm_timer_t *kick;
    uint64_t offl_feat;
    int offl_valid;
    uint64_t peer_links, busy_refused;
    int notify_exit;        /* `notify exit`: no ioeventfds/irqfds */
    int efd_on;             /* kicks arrive on watched ioeventfds */
    uint64_t efd_kicks[2];  /* wake-ups per queue through the ioeventfds */
};

static void net_rx_ready(qvm_vdev_t *dev, void *state, void *arg);
static void net_accept(qvm_vdev_t *dev, void *state, void *arg);

/* ---- tap ------------------------------------------------------------------ */

static int tap_open(struct net *s)
{
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        qvm_log(s->dev, QVM_LOG_ERROR, "hostdev %s: /dev/net/tun: %s", s->tap, strerror(errno));
        return -errno;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    memcpy(ifr.ifr_name, s->tap, strlen(s->tap));
    int hsz = VNET_HDR_LEN;
    if (ioctl(fd, TUNSETIFF, &ifr) != 0) {
        int e = errno;
        qvm_log(s->dev, QVM_LOG_ERROR, "hostdev %s: cannot open or create the tap: %s", s->tap,
                strerror(e));
        close(fd);
        return -e;
    }
    if (ioctl(fd, TUNSETVNETHDRSZ, &hsz) != 0 || ioctl(fd, TUNSETOFFLOAD, 0) != 0) {
        int e = errno;
        qvm_log(s->dev, QVM_LOG_ERROR, "hostdev %s: vnet header setup: %s", s->tap, strerror(e));
        close(fd);
        return -e;
    }
    s->n.fd = fd;
    s->n.hdr = 1;
    s->n.sock = 0;
    return 0;
}

/* TUNSETOFFLOAD: what the tap may hand us follows what the driver took. */
static void apply_offload(struct net *s)
{
    struct vio *v = &s->n.v;
    if (s->be != BE_TAP || s->n.fd < 0)
        return;
    uint64_t f = (v->status & VIRTIO_S_DRIVER_OK) ? v->driver_features : 0;
    if (s->offl_valid && f == s->offl_feat)
        return;
    if (ioctl(s->n.fd, TUNSETOFFLOAD, (unsigned long)vnet_tun_offload(f)) != 0)
        qvm_log(s->dev, QVM_LOG_WARN, "TUNSETOFFLOAD: %s", strerror(errno));
    s->offl_feat = f;
    s->offl_valid = 1;
}

/* ---- peer link -------------------------------------------------------------- */

static int mkdir_ok(const char *d, mode_t m)
{
    return mkdir(d, m) == 0 || errno == EEXIST;
}

/* <qvm's runtime directory>/net-peers/NAME (qvm_runtime_dir: the directory
 * of /dev/qvm/<system>, `set resmgr-path` included). */
static int peer_path(struct net *s)
{
    char name[96];
    if (s->peer[0] == '/') {
        if (strlen(s->peer) >= sizeof s->path) return -ENAMETOOLONG;
        /* A path whose directory exists is the socket itself. */
        const char *slash = strrchr(s->peer, '/');
        char dir[sizeof s->peer];
        size_t dl = (size_t)(slash - s->peer);
        memcpy(dir, s->peer, dl);
        dir[dl] = '\0';
        struct stat st;
        if (dl == 0 || (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))) {
            strcpy(s->path, s->peer);
            return 0;
        }
        /* Else (QNX's /dev/vdevpeers/vp0 on a Linux host) the path names an
         * endpoint under the runtime directory: its components joined with
         * '_' (dev_vdevpeers_vp0), the same for every qvm naming it. */
        size_t k = 0;
        for (const char *c = s->peer + 1; *c && k + 1 < sizeof name; c++)
            name[k++] = *c == '/' ? '_' : *c;
        name[k] = '\0';
    } else {
        snprintf(name, sizeof name, "%s", s->peer);
    }
    const char *dir = qvm_runtime_dir(s->dev);
    if (!dir)
        return -ENOENT;
    size_t l = strlen(dir);
    if (l + strlen("/net-peers/") + strlen(name) >= sizeof s->path)
        return -ENAMETOOLONG;
    snprintf(s->path, sizeof s->path, "%s/net-peers", dir);
    if (!mkdir_ok(s->path, 0700))
        return -errno;
    snprintf(s->path, sizeof s->path, "%s/net-peers/%s", dir, name);
    if (s->peer[0] == '/')
        qvm_log(s->dev, QVM_LOG_INFO, "peer %s: no such directory here; endpoint %s", s->peer,
                s->path);
    return 0;
}

static int unix_sock(void)
{
    return socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

static void sun_of(struct sockaddr_un *a, const char *path)
{
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    memcpy(a->sun_path, path, strlen(path));
}

/* Connect to the peer's socket, or become the one that listens. Serialised
 * between qvm processes by an flock on PATH.lock. */
static int peer_rendezvous(struct net *s)
{
    char lock[sizeof s->path + 8];
    snprintf(lock, sizeof lock, "%s.lock", s->path);
    int lk = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lk < 0 || flock(lk, LOCK_EX) != 0) {
        int e = errno;
        if (lk >= 0) close(lk);
        qvm_log(s->dev, QVM_LOG_ERROR, "peer %s: lock %s: %s", s->peer, lock, strerror(e));
        return -e;
    }
    struct sockaddr_un a;
    sun_of(&a, s->path);
    int rc = 0;
    int fd = unix_sock();
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
        s->n.fd = fd;
        s->role_listener = 0;
        s->peer_links++;
        goto out;
    }
    int e = errno;
    if (fd >= 0) close(fd);
    if (fd >= 0 && e == ECONNREFUSED)
        unlink(s->path);          /* a listener that died: nobody holds the lock */
    else if (fd < 0 || e != ENOENT) {
        qvm_log(s->dev, QVM_LOG_ERROR, "peer %s: connect %s: %s", s->peer, s->path, strerror(e));
        rc = -e;
        goto out;
    }
    if (s->listen_fd < 0) {
        int l = unix_sock();
        if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, 1) != 0) {
            e = errno;
            if (l >= 0) close(l);
            qvm_log(s->dev, QVM_LOG_ERROR, "peer %s: listen on %s: %s", s->peer, s->path, strerror(e));
            rc = -e;
            goto out;
        }
        struct stat st;
        s->listen_ino = fstat(l, &st) == 0 ? st.st_ino : 0;
        if (stat(s->path, &st) == 0) s->listen_ino = st.st_ino;
        s->listen_fd = l;
    }
    s->role_listener = 1;
out:
    flock(lk, LOCK_UN);
    close(lk);
    return rc;
}

static void watch_rx(struct net *s)
{
    if (s->n.fd >= 0 && !s->watching && qvm_fd_watch(s->dev, s->n.fd, net_rx_ready, NULL) == 0)
        s->watching = 1;
}

static void unwatch_rx(struct net *s)
{
    if (s->watching) qvm_fd_unwatch(s->dev, s->n.fd);
    s->watching = 0;
}

static void watch_listen(struct net *s)
{
    if (s->listen_fd >= 0 && !s->listening &&
        qvm_fd_watch(s->dev, s->listen_fd, net_accept, NULL) == 0)
        s->listening = 1;
}

static void peer_lost(struct net *s)
{
    unwatch_rx(s);
    if (s->n.fd >= 0) close(s->n.fd);
    s->n.fd = -1;
    vnet_drop_pending(&s->n);
    vnet_set_link(&s->n, 0);
    qvm_log(s->dev, QVM_LOG_INFO, "peer %s: link down", s->peer);
    if (!s->role_listener && peer_rendezvous(s) == 0) {
        watch_listen(s);
        if (s->n.fd >= 0) {
            vnet_set_link(&s->n, 1);
            watch_rx(s);
        }
    }
}

static void net_accept(qvm_vdev_t *dev, void *state, void *arg)
{
    struct net *s = state;
    (void)dev; (void)arg;
    int c = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0)
        return;
    if (s->n.fd >= 0) {
        s->busy_refused++;      /* one peer at a time */
        close(c);
        return;
    }
    s->n.fd = c;
    s->peer_links++;
    vnet_set_link(&s->n, 1);
    watch_rx(s);
}

/* ---- frame movement ------------------------------------------------------------ */

static void net_rx_ready(qvm_vdev_t *dev, void *state, void *arg)
{
    struct net *s = state;
    (void)dev; (void)arg;
    apply_offload(s);
    switch (vnet_rx(&s->n, RX_BUDGET)) {
    case VNET_RX_STALLED:
        unwatch_rx(s);          /* a guest kick on the receive queue re-arms */
        break;
    case VNET_RX_EOF:
        peer_lost(s);
        break;
    case VNET_RX_ERROR:
        qvm_log(s->dev, QVM_LOG_ERROR, "backend read: %s; receive stopped", strerror(s->n.rx_errno));
        unwatch_rx(s);
        break;
    default:
        break;
    }
}

static void net_kick(qvm_vdev_t *dev, void *state, void *arg)
{
    struct net *s = state;
    (void)dev; (void)arg;
    apply_offload(s);
    uint64_t dropped = s->n.st.tx_dropped, bad = s->n.st.tx_bad;
    int more = vnet_tx(&s->n, TX_BUDGET);
    if (s->n.st.tx_dropped != dropped)
        qvm_log(s->dev, QVM_LOG_WARN, "backend refused %llu frame(s): %s",
                (unsigned long long)(s->n.st.tx_dropped - dropped), strerror(s->n.tx_errno));
    if (s->n.st.tx_bad != bad)
        qvm_log(s->dev, QVM_LOG_WARN, "dropped %llu malformed frame(s) from the driver",
                (unsigned long long)(s->n.st.tx_bad - bad));
    if (!s->watching && s->n.fd >= 0) {
        /* receive was stalled for buffers (or the driver restarted) */
        enum vnet_rx_result r = s->n.rx_pending ? vnet_rx(&s->n, RX_BUDGET) : VNET_RX_IDLE;
        if (r == VNET_RX_EOF) {
            peer_lost(s);
        } else if (r != VNET_RX_STALLED && r != VNET_RX_ERROR) {
            watch_rx(s);
            if (r == VNET_RX_MORE) more = 1;
        }
    }
    if (more && s->kick)
        qvm_timer_arm_rel(s->kick, 0, 0);
}

static void net_notify(struct vio *v, unsigned q)
{
    struct net *s = (struct net *)v;
    (void)q;
    /* an exit-path kick (notify exit, or an access size the ioeventfd
     * does not match): the work runs on the event thread */
    if (s->kick)
        qvm_timer_arm_rel(s->kick, 0, 0);
}

/* An ioeventfd of queue `q` became readable (event thread, lock held):
 * clear its count, then do what a kick asks (transmit; resume a receive
 * that waited for buffers). */
static void net_efd_kick(qvm_vdev_t *dev, void *state, void *arg)
{
    struct net *s = state;
    unsigned q = (unsigned)(uintptr_t)arg;
    uint64_t cnt;
    if (q > 1)
        return;
    if (read(vio_kick_fd(&s->n.v, q), &cnt, sizeof cnt) == (ssize_t)sizeof cnt)
        s->efd_kicks[q]++;
    net_kick(dev, state, NULL);
}

static void efd_stop(struct net *s)
{
    for (unsigned q = 0; q < 2; q++) {
        int fd = vio_kick_fd(&s->n.v, q);
        if (fd >= 0 && s->efd_on)
            qvm_fd_unwatch(s->dev, fd);
    }
    s->efd_on = 0;
    vio_eventfds_close(&s->n.v);
}

/* GUEST_CONFIGURED: both queues' kicks on watched ioeventfds, MSI-X
 * vectors on irqfds. Anything missing leaves the exit path. */
static void efd_start(struct net *s)
{
    if (s->notify_exit)
        return;
    if (vio_eventfds_setup(&s->n.v, 1) != 2) {
        vio_eventfds_close(&s->n.v);
        qvm_log(s->dev, QVM_LOG_INFO, "no ioeventfds: queue kicks stay VM exits");
        return;
    }
    for (unsigned q = 0; q < 2; q++) {
        if (qvm_fd_watch(s->dev, vio_kick_fd(&s->n.v, q), net_efd_kick, (void *)(uintptr_t)q) != 0) {
            for (unsigned k = 0; k < q; k++)
                qvm_fd_unwatch(s->dev, vio_kick_fd(&s->n.v, k));
            vio_eventfds_close(&s->n.v);
            qvm_log(s->dev, QVM_LOG_WARN, "cannot watch the ioeventfds: queue kicks stay VM exits");
            return;
        }
    }
    s->efd_on = 1;
}

static void net_reset(struct vio *v)
{
    struct net *s = (struct net *)v;
    vnet_drop_pending(&s->n);
    s->offl_valid = 0;
    apply_offload(s);
}

static const struct vio_ops net_ops = {.notify = net_notify, .reset = net_reset};

/* ---- configuration ---------------------------------------------------------------- */

static int name_ok(const char *v, size_t max)
{
    size_t l = strlen(v);
    if (l == 0 || l >= max || v[0] == '.' || v[0] == '-')
        return 0;
    for (size_t i = 0; i < l; i++) {
        char c = v[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return 0;
    }
    return 1;
}

static int set_option(struct net *s, int idx, const char *val)
{
    switch (idx) {
    case 0:   /* hostdev */
        if (!name_ok(val, sizeof s->tap)) return -EINVAL;
        strcpy(s->tap, val);
        return 0;
    case 1:   /* mac */
        if (vnet_parse_mac(val, s->mac) != 0) return -EINVAL;
        s->have_mac = 1;
        return 0;
    case 2:   /* peer */
        if (val[0] == '/') {
            if (strlen(val) >= sizeof s->path || strlen(val) >= sizeof s->peer) return -EINVAL;
        } else if (!name_ok(val, 64)) {
            return -EINVAL;
        }
        strcpy(s->peer, val);
        return 0;
    case 3:   /* mrgrxbuf */
        if (!strcmp(val, "on") || !strcmp(val, "yes") || !strcmp(val, "1")) s->mrg = 1;
        else if (!strcmp(val, "off") || !strcmp(val, "no") || !strcmp(val, "0")) s->mrg = 0;
        else return -EINVAL;
        return 0;
    case 4:   /* notify eventfd|exit */
        if (!strcmp(val, "exit")) s->notify_exit = 1;
        else if (!strcmp(val, "eventfd")) s->notify_exit = 0;
        else return -EINVAL;
        return 0;
    case 5: { /* peerfeats MASK (QNX): features assumed of the peer */
        char *end = NULL;
        errno = 0;
        unsigned long long m = strtoull(val, &end, 0);
        if (!*val || *val == '-' || errno || !end || *end) return -EINVAL;
        if (m)
            qvm_log(s->dev, QVM_LOG_INFO,
                    "peerfeats 0x%llx: no effect here; a peer link carries whole frames "
                    "and offers no offloads", m);
        return 0;
    }
    }
    return -EINVAL;
}

static void choose_mac(struct net *s)
{
    if (s->have_mac)
        return;
    char seed[256];
    const char *sys = qvm_system_name(s->dev);
    if (sys && *sys)
        snprintf(seed, sizeof seed, "%s/%s", sys, qvm_dev_name(s->dev));
    else if (s->be == BE_TAP)
        snprintf(seed, sizeof seed, "tap:%s/%s", s->tap, qvm_dev_name(s->dev));
    else   /* both ends share the link name; the rendezvous role tells them apart */
        snprintf(seed, sizeof seed, "peer:%s:%s/%s", s->peer, s->role_listener ? "l" : "c",
                 qvm_dev_name(s->dev));
    vnet_default_mac(seed, s->mac);
}

static int net_control(qvm_vdev_t *dev, void *state, unsigned ctrl, int arg, const char *value)
{
    struct net *s = state;
    switch (ctrl) {
    case QVM_CTRL_OPTIONS_START:
        s->dev = dev;
        s->n.fd = -1;
        s->listen_fd = -1;
        s->mrg = 1;
        return 0;
    case QVM_CTRL_OPTION:
        if (arg == 6) {
            s->legacy = 1;
            return vio_option_legacy(dev);
        }
        if (arg == 7) { /* QNX 7.0 deprecated it for `hostdev` */
            qvm_log(dev, QVM_LOG_ERROR, "tapdev: deprecated (QNX 7.0); write `hostdev %s`",
                    value);
            return -EINVAL;
        }
        return set_option(s, arg, value);
    case QVM_CTRL_OPTIONS_END: {
        if (!!s->tap[0] == !!s->peer[0]) {
            qvm_log(dev, QVM_LOG_ERROR, "needs exactly one backend: `hostdev TAP` or `peer NAME`");
            return -EINVAL;
        }
        s->be = s->tap[0] ? BE_TAP : BE_PEER;
        static const uint8_t zero[6];
        vnet_init(&s->n, dev, &net_ops, vnet_features(s->be == BE_TAP, s->mrg), zero);
        if (s->legacy) vio_legacy(&s->n.v);
        s->n.fd = -1;
        return vio_declare(&s->n.v, 0x02, 0x00, 0x00);
    }
    case QVM_CTRL_RESOURCES: {
        int rc;
        if (s->be == BE_TAP) {
            rc = tap_open(s);
        } else {
            rc = peer_path(s);
            if (rc != 0)
                qvm_log(dev, QVM_LOG_ERROR, "peer %s: no rendezvous directory: %s", s->peer,
                        strerror(-rc));
            else
                rc = peer_rendezvous(s);
            s->n.sock = 1;
            s->n.hdr = 0;
        }
        if (rc != 0)
            return rc;
        choose_mac(s);
        memcpy(s->n.cfg, s->mac, 6);
        s->n.cfg[6] = s->n.fd >= 0 ? 1 : 0;   /* link up */
        s->kick = qvm_timer_create(dev, net_kick, NULL);
        return s->kick ? 0 : -ENOMEM;
    }
    case QVM_CTRL_GUEST_CONFIGURED:
        efd_start(s);
        watch_listen(s);
        watch_rx(s);
        return 0;
    case QVM_CTRL_GEN_ACPI:
        return vio_gen_acpi(&s->n.v);
    case QVM_CTRL_GEN_FDT:
        return vio_gen_fdt(&s->n.v);
    case QVM_CTRL_RESET:
        vio_reset(&s->n.v);
        if (s->kick) qvm_timer_arm_rel(s->kick, 0, 0);   /* re-watch a stalled backend */
        return 0;
    case QVM_CTRL_STATUS: {
        const struct vnet_stats *t = &s->n.st;
        qvm_log(dev, QVM_LOG_INFO,
                "%s %s mac %02x:%02x:%02x:%02x:%02x:%02x link %s status 0x%x; kicks %s "
                "(%llu rx, %llu tx wake-ups); tx %llu frames %llu bytes "
                "(%llu bad, %llu dropped); rx %llu frames %llu bytes (%llu small buffers, %llu bad, "
                "%llu dropped, %llu stalls); %u malformed rings",
                s->be == BE_TAP ? "tap" : "peer", s->be == BE_TAP ? s->tap : s->peer, s->mac[0],
                s->mac[1], s->mac[2], s->mac[3], s->mac[4], s->mac[5], vnet_link(&s->n) ? "up" : "down",
                s->n.v.status, s->efd_on ? "on ioeventfds" : "as VM exits",
                (unsigned long long)s->efd_kicks[0], (unsigned long long)s->efd_kicks[1], (unsigned long long)t->tx_frames, (unsigned long long)t->tx_bytes,
                (unsigned long long)t->tx_bad, (unsigned long long)t->tx_dropped,
                (unsigned long long)t->rx_frames, (unsigned long long)t->rx_bytes,
                (unsigned long long)t->rx_small, (unsigned long long)t->rx_bad,
                (unsigned long long)t->rx_dropped, (unsigned long long)t->rx_stalls,
                s->n.v.bad_rings);
        return 0;
    }
    case QVM_CTRL_TERMINATE:
        efd_stop(s);
        if (s->kick) { qvm_timer_destroy(s->kick); s->kick = NULL; }
        unwatch_rx(s);
        if (s->n.fd >= 0) { close(s->n.fd); s->n.fd = -1; }
        if (s->listen_fd >= 0) {
            if (s->listening) qvm_fd_unwatch(dev, s->listen_fd);
            s->listening = 0;
            struct stat st;
            if (stat(s->path, &st) == 0 && st.st_ino == s->listen_ino)
                unlink(s->path);   /* only our own socket */
            close(s->listen_fd);
            s->listen_fd = -1;
        }
        return 0;
    default:
        return 0;
    }
}

static int net_read(qvm_vdev_t *dev, void *state, const struct qvm_access *acc, void *data)
{
    (void)dev;
    return vio_read(&((struct net *)state)->n.v, acc, data);
}

static int net_write(qvm_vdev_t *dev, void *state, const struct qvm_access *acc, void *data)
{
    (void)dev;
    return vio_write(&((struct net *)state)->n.v, acc, data);
}

static const char *const net_options[] = {"hostdev", "mac",    "peer",     "mrgrxbuf",
                                          "notify",  "peerfeats", VIO_OPTION_LEGACY, "tapdev",
                                          NULL};
static const uint32_t net_option_flags[] = {0, 0, 0, 0, 0, 0, QVM_OPTF_NO_ARG, 0};

static const struct qvm_factory net_factory = {
    .abi_major = QVM_VDEV_ABI_MAJOR, .abi_minor = QVM_VDEV_ABI_MINOR,
    .struct_size = sizeof(struct qvm_factory),
    .name = "virtio-net",
    .description = "virtio network device (tap backend or a direct qvm-to-qvm peer link)",
    .flags = QVM_VDEVF_SPACE_PCI | QVM_VDEVF_SPACE_MEM,
    .access_sizes = QVM_ACCESS_1 | QVM_ACCESS_2 | QVM_ACCESS_4 | QVM_ACCESS_8,
    .options = net_options,
    .option_flags = net_option_flags,
    .state_size = sizeof(struct net),
    .control = net_control,
    .read = net_read,
    .write = net_write,
    .version = "1.0",
};

static void __attribute__((constructor)) reg(void) { qvm_register_factory(&net_factory); }
