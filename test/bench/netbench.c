/*
 * qvm-netbench: a tiny static TCP throughput tool for the test guest and the
 * x86_64 lane's host (test/guest/guest.build puts it at /bin/qvm-netbench,
 * test/lanes/x86_64/lane.build at /usr/bin/qvm-netbench).
 *   qvm-netbench sink PORT             listen; take one connection; read to
 *                                      end of file, checking the pattern;
 *                                      close (the sender's cue)
 *   qvm-netbench source PORT MIB       listen; take one connection; send MIB
 *                                      MiB of the pattern; shut down the
 *                                      write side; wait for the peer to close
 *   qvm-netbench put ADDR PORT MIB     connect; send MIB MiB; shut down the
 *                                      write side; wait until the receiver
 *                                      closed (so every byte arrived)
 *   qvm-netbench get ADDR PORT         connect; read to end of file, checking
 * put/get/sink print "<mode> <MiB/s> MiB/s <bytes> <ns> <bad>" where <bad> is
 * the number of bytes that differ from the pattern (position-dependent, so
 * loss, duplication and reordering show). Exit status 0 only when <bad> is 0
 * (and, for put, the transfer completed).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (64 * 1024)

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint8_t pat(uint64_t i) { return (uint8_t)((i * 131u) ^ (i >> 11)); }

static int listen_one(int port)
{
    int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (l < 0) return -1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, 1) != 0) {
        perror("listen");
        return -1;
    }
    int c = accept(l, NULL, NULL);
    close(l);
    if (c < 0) perror("accept");
    return c;
}

static int connect_to(const char *addr, int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, addr, &a.sin_addr) != 1) {
        fprintf(stderr, "bad address %s\n", addr);
        return -1;
    }
    /* the listener may not be up yet: retry for a while */
    for (int i = 0; i < 100; i++) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (s < 0) return -1;
        if (connect(s, (struct sockaddr *)&a, sizeof a) == 0) return s;
        close(s);
        usleep(100000);
    }
    perror("connect");
    return -1;
}

static int send_all(int s, uint64_t total)
{
    static uint8_t buf[CHUNK];
    uint64_t off = 0;
    while (off < total) {
        size_t n = total - off < CHUNK ? (size_t)(total - off) : CHUNK;
        for (size_t i = 0; i < n; i++) buf[i] = pat(off + i);
        size_t done = 0;
        while (done < n) {
            ssize_t k = write(s, buf + done, n - done);
            if (k < 0) {
                if (errno == EINTR) continue;
                perror("write");
                return -1;
            }
            done += (size_t)k;
        }
        off += n;
    }
    return 0;
}

/* Reads to end of file; returns bytes, *bad = bytes off the pattern. */
static int64_t recv_all(int s, uint64_t *bad)
{
    static uint8_t buf[CHUNK];
    uint64_t off = 0;
    *bad = 0;
    for (;;) {
        ssize_t k = read(s, buf, sizeof buf);
        if (k < 0) {
            if (errno == EINTR) continue;
            perror("read");
            return -1;
        }
        if (k == 0) return (int64_t)off;
        for (ssize_t i = 0; i < k; i++)
            if (buf[i] != pat(off + (uint64_t)i)) (*bad)++;
        off += (uint64_t)k;
    }
}

static void wait_close(int s)
{
    char c;
    while (read(s, &c, 1) > 0) {}
}

static int report(const char *what, int64_t bytes, uint64_t ns, uint64_t bad)
{
    double mibs = ns ? (double)bytes / 1048576.0 / ((double)ns / 1e9) : 0;
    printf("%s %.2f MiB/s %lld %llu %llu\n", what, mibs, (long long)bytes,
           (unsigned long long)ns, (unsigned long long)bad);
    return bad == 0 && bytes >= 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "sink")) {
        int c = listen_one(atoi(argv[2]));
        if (c < 0) return 2;
        uint64_t t0 = now_ns(), bad;
        int64_t n = recv_all(c, &bad);
        uint64_t t1 = now_ns();
        close(c);
        return report("sink", n, t1 - t0, bad);
    }
    if (argc >= 4 && !strcmp(argv[1], "source")) {
        int c = listen_one(atoi(argv[2]));
        if (c < 0) return 2;
        if (send_all(c, (uint64_t)atoi(argv[3]) << 20) != 0) return 1;
        shutdown(c, SHUT_WR);
        wait_close(c);
        close(c);
        return 0;
    }
    if (argc >= 5 && !strcmp(argv[1], "put")) {
        int s = connect_to(argv[2], atoi(argv[3]));
        if (s < 0) return 2;
        uint64_t total = (uint64_t)atoi(argv[4]) << 20;
        uint64_t t0 = now_ns();
        if (send_all(s, total) != 0) return 1;
        shutdown(s, SHUT_WR);
        wait_close(s);   /* the sink closes after reading everything */
        uint64_t t1 = now_ns();
        close(s);
        return report("g2h", (int64_t)total, t1 - t0, 0);
    }
    if (argc >= 4 && !strcmp(argv[1], "get")) {
        int s = connect_to(argv[2], atoi(argv[3]));
        if (s < 0) return 2;
        uint64_t t0 = now_ns(), bad;
        int64_t n = recv_all(s, &bad);
        uint64_t t1 = now_ns();
        close(s);
        return report("h2g", n, t1 - t0, bad);
    }
    fprintf(stderr, "usage: qvm-netbench sink PORT | source PORT MIB | put ADDR PORT MIB | get ADDR PORT\n");
    return 2;
}
