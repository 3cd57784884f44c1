/* virtio-net frame path (see net_core.h). */
#define _GNU_SOURCE
#include "net_core.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

uint64_t vnet_features(int offloads, int mrg)
{
    uint64_t f = (1ull << VIRTIO_F_EVENT_IDX) | (1ull << VIRTIO_F_INDIRECT_DESC) |
                 (1ull << VIRTIO_NET_F_MAC) | (1ull << VIRTIO_NET_F_STATUS);
    if (mrg)
        f |= 1ull << VIRTIO_NET_F_MRG_RXBUF;
    if (offloads)
        f |= (1ull << VIRTIO_NET_F_CSUM) | (1ull << VIRTIO_NET_F_GUEST_CSUM) |
             (1ull << VIRTIO_NET_F_HOST_TSO4) | (1ull << VIRTIO_NET_F_HOST_TSO6) |
             (1ull << VIRTIO_NET_F_GUEST_TSO4) | (1ull << VIRTIO_NET_F_GUEST_TSO6);
    return f;
}

void vnet_init(struct vnet *n, qvm_vdev_t *dev, const struct vio_ops *ops,
               uint64_t features, const uint8_t mac[6])
{
    memset(n->cfg, 0, sizeof n->cfg);
    memcpy(n->cfg, mac, 6);
    vio_init(&n->v, dev, ops, 1, features, 2, VIO_MAX_QSIZE, n->cfg, sizeof n->cfg);
    n->rx_pending = 0;
    n->rx_len = 0;
}

void vnet_set_link(struct vnet *n, int up)
{
    uint8_t want = up ? 1 : 0;
    if ((n->cfg[6] & 1) == want)
        return;
    n->cfg[6] = (uint8_t)((n->cfg[6] & ~1u) | want);
    n->cfg[7] = 0;
    vio_config_changed(&n->v);
}

int vnet_link(const struct vnet *n) { return n->cfg[6] & 1; }

void vnet_drop_pending(struct vnet *n)
{
    if (n->rx_pending)
        n->st.rx_dropped++;
    n->rx_pending = 0;
    n->rx_len = 0;
}

unsigned vnet_tun_offload(uint64_t f)
{
    unsigned t = 0;
    if (!((f >> VIRTIO_NET_F_GUEST_CSUM) & 1))
        return 0;
    t |= VNET_TUN_F_CSUM;
    if ((f >> VIRTIO_NET_F_GUEST_TSO4) & 1)
        t |= VNET_TUN_F_TSO4;
    if ((f >> VIRTIO_NET_F_GUEST_TSO6) & 1)
        t |= VNET_TUN_F_TSO6;
    return t;
}

/* The header the driver writes and reads: 12 bytes in virtio 1.x; a legacy
 * driver (QNX's `legacy`) without MRG_RXBUF has no num_buffers field, 10.
 * Frames inside the device always carry the 12-byte layout. */
static unsigned guest_hdr(const struct vnet *n)
{
    return n->v.legacy && !vio_has(&n->v, VIRTIO_NET_F_MRG_RXBUF) ? VNET_HDR_LEN - 2
                                                                   : VNET_HDR_LEN;
}

/* ---- transmit ----------------------------------------------------------- */

/* The driver's header may only ask for what it negotiated. */
static int tx_hdr_ok(const struct vnet *n, const uint8_t *h)
{
    const struct vio *v = &n->v;
    uint8_t flags = h[0], gso = h[1];
    if (flags & ~(VNET_HDR_F_NEEDS_CSUM))
        return 0;
    if ((flags & VNET_HDR_F_NEEDS_CSUM) && !vio_has(v, VIRTIO_NET_F_CSUM))
        return 0;
    switch (gso) {
    case VNET_GSO_NONE: return 1;
    case VNET_GSO_TCPV4: return vio_has(v, VIRTIO_NET_F_HOST_TSO4) && (flags & VNET_HDR_F_NEEDS_CSUM);
    case VNET_GSO_TCPV6: return vio_has(v, VIRTIO_NET_F_HOST_TSO6) && (flags & VNET_HDR_F_NEEDS_CSUM);
    default: return 0;   /* UDP (UFO) and ECN are not offered */
    }
}

static void tx_one(struct vnet *n)
{
    struct vio_req *r = &n->req;
    uint64_t glen = r->rlen, gh = guest_hdr(n);
    if (glen < gh + VNET_ETH_MIN || glen - gh > sizeof n->txbuf - VNET_HDR_LEN) {
        n->st.tx_bad++;
        return;
    }
    /* into the 12-byte layout: the short header, num_buffers 0, the frame */
    uint64_t len = glen - gh + VNET_HDR_LEN;
    n->txbuf[10] = n->txbuf[11] = 0;
    if (vio_req_read(&n->v, r, 0, n->txbuf, gh) != (long)gh ||
        vio_req_read(&n->v, r, gh, n->txbuf + VNET_HDR_LEN, glen - gh) != (long)(glen - gh)) {
        vio_needs_reset(&n->v, "transmit buffer unreadable");
        return;
    }
    if (!tx_hdr_ok(n, n->txbuf)) {
        n->st.tx_bad++;
        return;
    }
    if (n->fd < 0) {
        n->st.tx_dropped++;
        return;
    }
    const uint8_t *p = n->hdr ? n->txbuf : n->txbuf + VNET_HDR_LEN;
    size_t k = (size_t)(n->hdr ? len : len - VNET_HDR_LEN);
    ssize_t w = n->sock ? send(n->fd, p, k, MSG_DONTWAIT | MSG_NOSIGNAL) : write(n->fd, p, k);
    if (w != (ssize_t)k) {
        n->tx_errno = w < 0 ? errno : EMSGSIZE;
        n->st.tx_dropped++;
        return;
    }
    n->st.tx_frames++;
    n->st.tx_bytes += len - VNET_HDR_LEN;
}

/* Chains the driver made available that we have not taken. */
static int avail_pending(struct vnet *n, unsigned qi)
{
    struct vio *v = &n->v;
    uint16_t idx;
    if (!vio_running(v) || !v->q[qi].ready ||
        qvm_gmem_read(v->dev, v->q[qi].avail + 2, &idx, 2) != 0)
        return 0;
    return idx != v->q[qi].last_avail;
}

int vnet_tx(struct vnet *n, unsigned budget)
{
    struct vio *v = &n->v;
    unsigned done = 0;
    /* round 2 catches chains added while avail_event was being published
     * (the driver may then have skipped its kick) */
    for (int round = 0; round < 2; round++) {
        while (done < budget) {
            int rc = vio_pop(v, VNET_TXQ, &n->req);
            if (rc <= 0)
                break;
            done++;
            tx_one(n);
            if (vio_push(v, VNET_TXQ, n->req.head, 0) != 0)
                break;
        }
        vio_notify_queue(v, VNET_TXQ);
        if (done >= budget)
            return vio_running(v);
        if (!avail_pending(n, VNET_TXQ))
            break;
    }
    return 0;
}

/* ---- receive ------------------------------------------------------------ */

static int deliver_one_chain(struct vnet *n, uint64_t total)
{
    struct vio *v = &n->v;
    int rc = vio_pop(v, VNET_RXQ, &n->req);
    if (rc <= 0)
        return rc;
    uint64_t gh = guest_hdr(n), glen = total - VNET_HDR_LEN + gh;
    if (n->req.wlen < glen) {
        /* buffers too small for this frame: drop it, hand the buffer back
         * empty (a driver counts a length error and reposts it) */
        n->st.rx_small++;
        vio_push(v, VNET_RXQ, n->req.head, 0);
        return 1;
    }
    n->rxbuf[10] = 1;   /* num_buffers (not there in a 10-byte header) */
    n->rxbuf[11] = 0;
    if (vio_req_write(v, &n->req, 0, n->rxbuf, gh) != (long)gh ||
        vio_req_write(v, &n->req, gh, n->rxbuf + VNET_HDR_LEN, total - VNET_HDR_LEN) !=
            (long)(total - VNET_HDR_LEN)) {
        vio_needs_reset(v, "receive buffer unwritable");
        return -1;
    }
    vio_push(v, VNET_RXQ, n->req.head, (uint32_t)glen);
    n->st.rx_frames++;
    n->st.rx_bytes += total - VNET_HDR_LEN;
    return 1;
}

static int deliver_merged(struct vnet *n, uint64_t total)
{
    struct vio *v = &n->v;
    uint64_t off = 0;
    unsigned nb = 0, cap = v->q[VNET_RXQ].size;
    while (off < total) {
        if (nb >= cap || nb >= VIO_MAX_QSIZE) {
            /* every buffer of the ring is ours and still not enough */
            vio_unpop(v, VNET_RXQ, (uint16_t)nb);
            n->st.rx_small++;
            return 1;   /* frame dropped, buffers left to the driver */
        }
        struct vio_req *r = nb == 0 ? &n->req0 : &n->req;
        int rc = vio_pop(v, VNET_RXQ, r);
        if (rc < 0)
            return -1;
        if (rc == 0) {
            vio_unpop(v, VNET_RXQ, (uint16_t)nb);
            return 0;
        }
        if (nb == 0 && r->wlen < VNET_HDR_LEN) {
            n->st.rx_small++;   /* the header must fit the first buffer */
            vio_push(v, VNET_RXQ, r->head, 0);
            return 1;
        }
        uint64_t k = r->wlen < total - off ? r->wlen : total - off;
        if (vio_req_write(v, r, 0, n->rxbuf + off, k) != (long)k) {
            vio_needs_reset(v, "receive buffer unwritable");
            return -1;
        }
        n->heads[nb] = r->head;
        n->lens[nb] = (uint32_t)k;
        nb++;
        off += k;
    }
    uint8_t nbuf[2] = {(uint8_t)nb, (uint8_t)(nb >> 8)};
    if (vio_req_write(v, &n->req0, 10, nbuf, 2) != 2) {
        vio_needs_reset(v, "receive buffer unwritable");
        return -1;
    }
    for (unsigned i = 0; i < nb; i++)
        if (vio_push(v, VNET_RXQ, n->heads[i], n->lens[i]) != 0)
            return -1;
    n->st.rx_frames++;
    n->st.rx_bytes += total - VNET_HDR_LEN;
    return 1;
}

/* A backend header may only carry what the driver accepted. */
static int rx_hdr_ok(const struct vnet *n, uint8_t *h)
{
    const struct vio *v = &n->v;
    int csum = vio_has(v, VIRTIO_NET_F_GUEST_CSUM);
    if (h[0] & ~(VNET_HDR_F_NEEDS_CSUM | VNET_HDR_F_DATA_VALID))
        return 0;
    if ((h[0] & VNET_HDR_F_NEEDS_CSUM) && !csum)
        return 0;
    if (!csum)
        h[0] &= (uint8_t)~VNET_HDR_F_DATA_VALID;
    switch (h[1]) {
    case VNET_GSO_NONE: return 1;
    case VNET_GSO_TCPV4: return vio_has(v, VIRTIO_NET_F_GUEST_TSO4);
    case VNET_GSO_TCPV6: return vio_has(v, VIRTIO_NET_F_GUEST_TSO6);
    default: return 0;
    }
}

int vnet_deliver(struct vnet *n)
{
    struct vio *v = &n->v;
    if (!n->rx_pending)
        return 1;
    if (v->status & VIRTIO_S_NEEDS_RESET) {
        vnet_drop_pending(n);   /* broken until the driver resets it */
        return -1;
    }
    if (!vio_running(v) || !v->q[VNET_RXQ].ready)
        return 0;
    uint64_t total = n->rx_len;
    if (!n->hdr) {
        memset(n->rxbuf, 0, VNET_HDR_LEN);
    } else if (!rx_hdr_ok(n, n->rxbuf)) {
        /* the backend offloads more than this driver accepted (frames
         * queued before a reset renegotiated): drop */
        n->st.rx_bad++;
        n->rx_pending = 0;
        return 1;
    }
    int rc = vio_has(v, VIRTIO_NET_F_MRG_RXBUF) ? deliver_merged(n, total)
                                                 : deliver_one_chain(n, total);
    if (rc != 0)
        n->rx_pending = 0;
    if (rc < 0)
        n->st.rx_dropped++;
    return rc;
}

/* Reads one frame from the backend into rxbuf: 1 read, 0 nothing, -1 EOF,
 * -2 error. Runts and truncated frames are dropped (and count as read). */
static int rx_read(struct vnet *n)
{
    uint8_t *dst = n->hdr ? n->rxbuf : n->rxbuf + VNET_HDR_LEN;
    size_t room = n->hdr ? sizeof n->rxbuf : sizeof n->rxbuf - VNET_HDR_LEN;
    ssize_t k = n->sock ? recv(n->fd, dst, room, MSG_DONTWAIT | MSG_TRUNC)
                        : read(n->fd, dst, room);
    if (k < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return 0;
        n->rx_errno = errno;
        return -2;
    }
    if (k == 0)
        return n->sock ? -1 : 0;
    size_t hdr = n->hdr ? VNET_HDR_LEN : 0;
    if ((size_t)k > room || (size_t)k < hdr + VNET_ETH_MIN) {
        n->st.rx_bad++;
        return 1;
    }
    if (hdr) {
        /* the tap fills flags/gso; num_buffers is ours */
        n->rxbuf[10] = n->rxbuf[11] = 0;
    }
    n->rx_len = (size_t)k + (VNET_HDR_LEN - hdr);
    n->rx_pending = 1;
    return 1;
}

enum vnet_rx_result vnet_rx(struct vnet *n, unsigned budget)
{
    struct vio *v = &n->v;
    enum vnet_rx_result res = VNET_RX_MORE;
    unsigned delivered = 0;
    for (unsigned i = 0; i < budget; i++) {
        if (!n->rx_pending) {
            if (n->fd < 0) {
                res = VNET_RX_IDLE;
                break;
            }
            int r = rx_read(n);
            if (r == 0) { res = VNET_RX_IDLE; break; }
            if (r == -1) { res = VNET_RX_EOF; break; }
            if (r == -2) { res = VNET_RX_ERROR; break; }
            if (!n->rx_pending)
                continue;   /* dropped runt */
        }
        int d = vnet_deliver(n);
        if (d == 0 && vio_running(v)) {
            /* publish avail_event, then look once more: buffers posted
             * meanwhile may come without a kick */
            vio_notify_queue(v, VNET_RXQ);
            d = vnet_deliver(n);
        }
        if (d == 0) {
            n->st.rx_stalls++;
            res = VNET_RX_STALLED;
            break;
        }
        delivered++;
    }
    if (delivered)
        vio_notify_queue(v, VNET_RXQ);
    return res;
}

/* ---- MAC addresses ------------------------------------------------------ */

static int hexv(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int vnet_parse_mac(const char *s, uint8_t mac[6])
{
    if (!s || strlen(s) != 17)
        return -1;
    for (int i = 0; i < 6; i++) {
        int hi = hexv(s[3 * i]), lo = hexv(s[3 * i + 1]);
        if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
            return -1;
        mac[i] = (uint8_t)(hi << 4 | lo);
    }
    if (mac[0] & 1)
        return -1;      /* multicast */
    return 0;
}

void vnet_default_mac(const char *seed, uint8_t mac[6])
{
    uint64_t h = 0xcbf29ce484222325ull;   /* FNV-1a */
    for (const char *p = seed; *p; p++) {
        h ^= (uint8_t)*p;
        h *= 0x100000001b3ull;
    }
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)(h >> (8 * i));
    mac[0] = (uint8_t)((mac[0] & 0xfc) | 0x02);   /* local, unicast */
}
