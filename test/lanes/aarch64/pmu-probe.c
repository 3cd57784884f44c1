/* qvm-pmu-probe: runs in the aarch64 lane's nested guest (qvm.test=pmu,
 * test/guest/init) to show that the guest's PMUv3 (`set pmu`) counts and
 * raises its overflow interrupt. It opens a hardware CPU-cycle counter
 * that samples every PERIOD cycles (each sample is an overflow interrupt;
 * no ring buffer is mapped, so the samples themselves are dropped), spins
 * for about half a second, and prints
 *   QVM-PMU-COUNT <cycles counted> <ms spun>
 * or QVM-PMU-COUNT open-failed <errno text> when the kernel has no such
 * counter (no PMU). Built statically by run.sh with the cross compiler. */
#include <errno.h>
#include <linux/perf_event.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int main(void)
{
    struct perf_event_attr a;
    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.type = PERF_TYPE_HARDWARE;
    a.config = PERF_COUNT_HW_CPU_CYCLES;
    a.sample_period = 2000000;
    a.disabled = 1;
    a.exclude_hv = 1;
    int fd = (int)syscall(__NR_perf_event_open, &a, 0, -1, -1, 0);
    if (fd < 0) {
        printf("QVM-PMU-COUNT open-failed %s\n", strerror(errno));
        return 1;
    }
    ioctl(fd, PERF_EVENT_IOC_RESET, 0);
    ioctl(fd, PERF_EVENT_IOC_ENABLE, 0);
    uint64_t t0 = now_ms(), t = t0;
    volatile uint64_t sink = 0;
    for (unsigned round = 0; round < 100000 && t - t0 < 500; round++) {
        for (unsigned i = 0; i < 10000; i++) sink += i;
        t = now_ms();
    }
    ioctl(fd, PERF_EVENT_IOC_DISABLE, 0);
    uint64_t count = 0;
    if (read(fd, &count, sizeof count) != (ssize_t)sizeof count) {
        printf("QVM-PMU-COUNT read-failed %s\n", strerror(errno));
        return 1;
    }
    printf("QVM-PMU-COUNT %llu %llu\n", (unsigned long long)count, (unsigned long long)(t - t0));
    close(fd);
    return 0;
}
