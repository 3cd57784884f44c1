/*
 * virtio-net frame path (no plug-in glue: no options, timers or fd
 * watches), shared by vdev-virtio-net.so and the unit tests in
 * test/virtio/net_*_test.cc. Depends on libvirtio and libc only.
 *
 * The backend is one file descriptor carrying one frame per read/write:
 *  - a tap opened with IFF_VNET_HDR and TUNSETVNETHDRSZ 12: each frame is
 *    preceded by the 12-byte virtio 1.x net header (`hdr` = 1), offloads
 *    pass through in it;
 *  - a peer socket (AF_UNIX SOCK_SEQPACKET): raw Ethernet frames, one per
 *    packet (`hdr` = 0; no offloads are offered then).
 */
#ifndef QVM_VIRTIO_NET_CORE_H
#define QVM_VIRTIO_NET_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "virtio.h"

#ifdef __cplusplus
extern "C" {
#endif

/* feature bits */
#define VIRTIO_NET_F_CSUM 0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_HOST_TSO4 11
#define VIRTIO_NET_F_HOST_TSO6 12
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS 16

/* struct virtio_net_hdr (virtio 1.x: always 12 bytes, little-endian; a
 * legacy driver without MRG_RXBUF writes and reads it without num_buffers,
 * 10 bytes: net_core.c converts at the guest's buffers) */
#define VNET_HDR_LEN 12
#define VNET_HDR_F_NEEDS_CSUM 1
#define VNET_HDR_F_DATA_VALID 2
#define VNET_GSO_NONE 0
#define VNET_GSO_TCPV4 1
#define VNET_GSO_UDP 3
#define VNET_GSO_TCPV6 4
#define VNET_GSO_ECN 0x80

#define VNET_ETH_MIN 14            /* an Ethernet header */
#define VNET_MAX_FRAME 65550       /* 14 + 4 (VLAN) + 64 KiB - 4: a TSO frame */
#define VNET_RXQ 0
#define VNET_TXQ 1

/* tun offload flags (linux/if_tun.h), computed here so that tests see them */
#define VNET_TUN_F_CSUM 0x01
#define VNET_TUN_F_TSO4 0x02
#define VNET_TUN_F_TSO6 0x04

struct vnet_stats {
    uint64_t tx_frames, tx_bytes;
    uint64_t tx_bad;        /* malformed by the driver (header, length) */
    uint64_t tx_dropped;    /* backend refused (full, gone) */
    uint64_t rx_frames, rx_bytes;
    uint64_t rx_small;      /* guest buffers too small for the frame */
    uint64_t rx_bad;        /* backend frame runt or truncated */
    uint64_t rx_dropped;    /* no backend / device broken */
    uint64_t rx_stalls;     /* times the receive queue ran out of buffers */
};

enum vnet_rx_result {
    VNET_RX_IDLE = 0,       /* backend has nothing more */
    VNET_RX_MORE = 1,       /* budget used up, frames may remain */
    VNET_RX_STALLED = 2,    /* no guest buffers: one frame held */
    VNET_RX_EOF = 3,        /* backend closed (peer went away) */
    VNET_RX_ERROR = 4,      /* backend read error (errno kept in rx_errno) */
};

struct vnet {
    struct vio v;           /* first: the vio_ops callbacks cast back */
    struct vio_req req, req0;
    uint8_t cfg[12];        /* mac[6], status (LE16), 4 reserved */
    int fd;                 /* backend, -1 = none */
    int hdr;                /* backend frames carry the 12-byte header */
    int sock;               /* backend is a socket (recv with MSG_TRUNC) */
    int rx_pending;         /* rxbuf holds a frame not yet delivered */
    size_t rx_len;          /* header + frame bytes in rxbuf */
    int rx_errno;
    int tx_errno;           /* errno of the last refused backend write */
    struct vnet_stats st;
    uint16_t heads[VIO_MAX_QSIZE];
    uint32_t lens[VIO_MAX_QSIZE];
    uint8_t rxbuf[VNET_HDR_LEN + VNET_MAX_FRAME];
    uint8_t txbuf[VNET_HDR_LEN + VNET_MAX_FRAME];
};

/* Features offered: EVENT_IDX, INDIRECT_DESC, MAC, STATUS; MRG_RXBUF when
 * `mrg`; CSUM/GUEST_CSUM/HOST_TSO4/6/GUEST_TSO4/6 when `offloads` (tap). */
uint64_t vnet_features(int offloads, int mrg);
/* Sets up `n` (vio_init with device id 1, two queues of 256). */
void vnet_init(struct vnet *n, qvm_vdev_t *dev, const struct vio_ops *ops,
               uint64_t features, const uint8_t mac[6]);
/* Link status bit in the config space (config interrupt when it changes). */
void vnet_set_link(struct vnet *n, int up);
int vnet_link(const struct vnet *n);
/* Drops a held frame (device reset, backend change). */
void vnet_drop_pending(struct vnet *n);
/* TUN_F_* flags matching the driver's accepted features (what the tap may
 * hand us: partial checksums, TSO frames). */
unsigned vnet_tun_offload(uint64_t driver_features);

/* Moves at most `budget` chains from the transmit queue to the backend and
 * interrupts the driver as it asked. Returns 1 when the budget ran out
 * (chains may remain), else 0. Malformed frames are dropped (tx_bad);
 * malformed rings put the device in NEEDS_RESET (libvirtio). */
int vnet_tx(struct vnet *n, unsigned budget);
/* Reads at most `budget` frames from the backend into the receive queue. */
enum vnet_rx_result vnet_rx(struct vnet *n, unsigned budget);
/* Delivers the frame held in rxbuf (rx_len bytes, header first): 1 done
 * (or dropped), 0 no guest buffers (frame kept), -1 device broken. */
int vnet_deliver(struct vnet *n);

/* "xx:xx:xx:xx:xx:xx" -> mac; 0, or -1 when malformed or multicast. */
int vnet_parse_mac(const char *s, uint8_t mac[6]);
/* A stable locally administered unicast MAC from a text seed. */
void vnet_default_mac(const char *seed, uint8_t mac[6]);

#ifdef __cplusplus
}
#endif

#endif
