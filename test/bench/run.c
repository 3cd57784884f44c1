/*
 * qvm-bench-run: runs one VMM process and times it.
 *
 *   qvm-bench-run [-m MARKER] [-t MS] [-e FILE] [-k MS] [-r MIB [-w MS]] -- CMD [ARG...]
 *
 * The clock (CLOCK_MONOTONIC) starts just before fork(); the child gets
 * stdin = /dev/null, stdout = a pipe, stderr = FILE (default /dev/null).
 * Reported on stdout as one line of key=value pairs:
 *   first_ns  time to the first byte on the child's stdout, or with -m to
 *             the end of the first occurrence of MARKER (-1: never seen)
 *   exit_ns   time until waitpid() returned (-1 with -r: the bench killed it)
 *   rc        exit status (128+N: killed by signal N; "timeout" after -t MS)
 *   With -k MS: once the marker is seen, wait at most MS for the child to
 *   exit, then SIGKILL it (exit_ns=-1, rc=killed).
 *   With -r MIB (memory mode): once the marker is seen, wait -w MS (default
 *   300), read /proc/PID/smaps, then SIGKILL the child, and add
 *   rss_kb    the process's total Rss
 *   guest_kb  Rss of the guest-RAM mapping: the mapping whose Size is closest
 *             to MIB MiB (at least MIB MiB, at most MIB+8 MiB; ties: largest
 *             Rss)
 *   guest_size_kb  that mapping's Size (0: none found)
 *   uss_kb    the process's private memory (Private_Clean + Private_Dirty:
 *             pages no other process shares, e.g. not libc's text)
 *   guest_uss_kb  the guest-RAM mapping's private memory
 * Exit status: 0 when a line was printed, 2 on usage or set-up errors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void usage(void) {
  fprintf(stderr,
          "usage: qvm-bench-run [-m MARKER] [-t MS] [-e FILE] [-k MS] [-r MIB [-w MS]]"
          " -- CMD [ARG...]\n");
  exit(2);
}

/* Reads /proc/PID/smaps: total Rss and private memory, and the guest-RAM
 * mapping's Rss, Size and private memory. */
static void read_smaps(pid_t pid, long mib, long *rss, long *guest_rss,
                       long *guest_size, long *uss, long *guest_uss) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/smaps", (int)pid);
  *rss = *guest_rss = *guest_size = *uss = *guest_uss = 0;
  FILE *f = fopen(path, "r");
  if (!f) return;
  const long want = mib * 1024, slack = 8 * 1024;
  long size = 0, best_diff = -1;
  int is_guest = 0;  /* the current mapping is the chosen guest mapping */
  char line[512];
  while (fgets(line, sizeof line, f)) {
    long v;
    if (sscanf(line, "Size: %ld kB", &v) == 1) {
      size = v;
      is_guest = 0;
    } else if (sscanf(line, "Private_Clean: %ld kB", &v) == 1 ||
               sscanf(line, "Private_Dirty: %ld kB", &v) == 1) {
      *uss += v;
      if (is_guest) *guest_uss += v;
    } else if (sscanf(line, "Rss: %ld kB", &v) == 1) {
      *rss += v;
      if (size >= want && size <= want + slack) {
        long diff = size - want;
        if (best_diff < 0 || diff < best_diff ||
            (diff == best_diff && v > *guest_rss)) {
          best_diff = diff;
          *guest_rss = v;
          *guest_size = size;
          *guest_uss = 0;  /* its Private_* lines follow */
          is_guest = 1;
        }
      }
    }
  }
  fclose(f);
}

int main(int argc, char **argv) {
  const char *marker = NULL, *errfile = "/dev/null";
  long timeout_ms = 60000, mem_mib = 0, settle_ms = 300, kill_ms = -1;
  int opt;
  while ((opt = getopt(argc, argv, "+m:t:e:r:w:k:")) != -1) {
    switch (opt) {
      case 'm': marker = optarg; break;
      case 't': timeout_ms = atol(optarg); break;
      case 'e': errfile = optarg; break;
      case 'r': mem_mib = atol(optarg); break;
      case 'w': settle_ms = atol(optarg); break;
      case 'k': kill_ms = atol(optarg); break;
      default: usage();
    }
  }
  if (optind >= argc || timeout_ms <= 0 || mem_mib < 0 || settle_ms < 0)
    usage();
  if (marker && !*marker) marker = NULL;
  size_t mlen = marker ? strlen(marker) : 0;

  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) { perror("pipe"); return 2; }
  int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
  int err = open(errfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (nul < 0 || err < 0) { perror("open"); return 2; }

  int64_t t0 = now_ns();
  pid_t pid = fork();
  if (pid < 0) { perror("fork"); return 2; }
  if (pid == 0) {
    dup2(nul, 0);
    dup2(p[1], 1);
    dup2(err, 2);
    execvp(argv[optind], argv + optind);
    _exit(127);
  }
  close(p[1]);

  int64_t first = -1, deadline = t0 + timeout_ms * 1000000LL;
  /* Rolling window for a marker split across reads. */
  char win[512];
  size_t wlen = 0;
  int eof = 0, timed_out = 0, killed = 0;
  long rss = 0, grss = 0, gsize = 0, uss = 0, guss = 0;
  int64_t kill_at = -1;
  while (!eof) {
    int64_t t = now_ns();
    if (t >= deadline) { timed_out = 1; break; }
    if (kill_at >= 0 && t >= kill_at) {
      if (mem_mib > 0) read_smaps(pid, mem_mib, &rss, &grss, &gsize, &uss, &guss);
      kill(pid, SIGKILL);
      killed = 1;
      break;
    }
    int64_t until = kill_at >= 0 ? kill_at : deadline;
    int wait_ms = (int)((until - t) / 1000000) + 1;
    struct pollfd pf = {.fd = p[0], .events = POLLIN};
    int n = poll(&pf, 1, wait_ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("poll");
      break;
    }
    if (n == 0) continue;
    char buf[4096];
    ssize_t r = read(p[0], buf, sizeof buf);
    if (r <= 0) {
      if (r < 0 && errno == EINTR) continue;
      eof = 1;
      break;
    }
    int64_t tr = now_ns();
    if (first < 0) {
      if (!marker) {
        first = tr - t0;
      } else {
        for (ssize_t i = 0; i < r && first < 0; i++) {
          if (wlen == sizeof win) {
            memmove(win, win + wlen - mlen, mlen);
            wlen = mlen;
          }
          win[wlen++] = buf[i];
          if (wlen >= mlen && memcmp(win + wlen - mlen, marker, mlen) == 0)
            first = tr - t0;
        }
      }
      if (first >= 0 && mem_mib > 0)
        kill_at = tr + settle_ms * 1000000LL;
      else if (first >= 0 && kill_ms >= 0)
        kill_at = tr + kill_ms * 1000000LL;
    }
  }
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  int64_t t_exit = now_ns() - t0;
  printf("first_ns=%lld exit_ns=%lld", (long long)first,
         (long long)(killed || timed_out ? -1 : t_exit));
  if (timed_out)
    printf(" rc=timeout");
  else if (killed)
    printf(" rc=killed");
  else if (WIFSIGNALED(status))
    printf(" rc=%d", 128 + WTERMSIG(status));
  else
    printf(" rc=%d", WEXITSTATUS(status));
  if (mem_mib > 0)
    printf(" rss_kb=%ld guest_kb=%ld guest_size_kb=%ld uss_kb=%ld guest_uss_kb=%ld", rss, grss,
           gsize, uss, guss);
  printf("\n");
  return 0;
}
