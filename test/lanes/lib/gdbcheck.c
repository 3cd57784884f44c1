/* qvm-gdbcheck: a scripted gdb remote-protocol session against qvm's stub,
 * for the lanes' gdb-kernel test (a Linux guest booted with nokaslr, two
 * vCPUs, `set gdb SOCKET`, `set gdb-wait on`). Every packet is framed and
 * checksummed; every reply's checksum is checked (a bad one is NAKed and
 * counted); stop replies are parsed (signal, thread, swbreak/hwbreak).
 *
 *   qvm-gdbcheck SOCKET MAP CONSOLE FIFO
 *
 * MAP is a System.map-format file naming start_kernel, __x64_sys_reboot
 * and kernel_power_off;
 * CONSOLE the file the guest's console is copied to; FIFO qvm's stdin.
 * The session:
 *   attach (the guest stopped before its first instruction: a stop reply),
 *   2 threads;
 *   hbreak start_kernel (Z1), continue, the stop at it: rip rsp cr3, the
 *   stack's words (text addresses named from MAP);
 *   continue to the guest's shell marker on CONSOLE, then Ctrl-C (0x03):
 *   the time to the stop reply, both threads' registers;
 *   `poweroff` typed into FIFO, the stop at a software breakpoint (Z0, an
 *   int3 in guest memory) on kernel_power_off (or, when QVM_GDB_NO_SWBREAK
 *   says why the host cannot run one, an hbreak on __x64_sys_reboot):
 *   registers and stack again;
 *   continue: the guest powers off and qvm closes the connection.
 * A breakpoint the guest runs past (its console shows a later line) fails
 * at once, or is a skip with the reason QVM_GDB_HW_MISS gives (hbreak);
 * a connection qvm closed fails. `SKIPPED NAME` lines name the skips.
 * Prints the transcript (`-> packet`, `<- reply`), `CHECK NAME ok|FAIL
 * detail` per check and `FIGURE ctrl-c-stop-us N`; exit 0 when every check
 * passed. Waits are bounded (30 s for the Ctrl-C stop, WAIT s otherwise);
 * nothing else is timed. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

enum { kWait = 1800, kCtrlCBound = 30, kMaxPkt = 65536 };

static int fd = -1;
static int nfail, badsum;
static char rx[kMaxPkt];

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static void check(int ok, const char* name, const char* fmt, ...) {
  char d[512] = "";
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(d, sizeof d, fmt, ap);
  va_end(ap);
  printf("CHECK %s %s%s%s\n", name, ok ? "ok" : "FAIL", d[0] ? " " : "", d);
  fflush(stdout);
  if (!ok) nfail++;
}

static void show(const char* dir, const char* p) {
  size_t n = strlen(p);
  printf("%s %.*s%s\n", dir, n > 120 ? 120 : (int)n, p, n > 120 ? "..." : "");
  fflush(stdout);
}

/* one byte, waiting at most `secs` (-1 timeout, -2 EOF/error) */
static int getbyte(double secs) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  int r = poll(&p, 1, (int)(secs * 1000));
  if (r == 0) return -1;
  unsigned char c;
  if (r < 0 || read(fd, &c, 1) != 1) return -2;
  return c;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Reads the next packet into rx (acks it; a bad checksum is NAKed and the
 * stub sends it again). 0 ok, -1 timeout, -2 connection closed. */
static int getpkt(double secs) {
  double end = now() + secs;
  for (;;) {
    int c;
    do {
      double left = end - now();
      if (left <= 0) return -1;
      c = getbyte(left);
      if (c < 0) return c;
    } while (c != '$');
    size_t n = 0;
    unsigned sum = 0;
    for (;;) {
      c = getbyte(end - now() > 0 ? end - now() : 0);
      if (c < 0) return c;
      if (c == '#') break;
      if (n + 1 >= sizeof rx) return -2;
      sum += (unsigned)c;
      rx[n++] = (char)c;
    }
    rx[n] = 0;
    int h = getbyte(5), l = h < 0 ? -1 : getbyte(5);
    if (h < 0 || l < 0) return -2;
    int want = hexval(h) * 16 + hexval(l);
    if (hexval(h) < 0 || hexval(l) < 0 || want != (int)(sum & 0xff)) {
      badsum++;
      printf("   (bad checksum on a reply: NAK)\n");
      if (write(fd, "-", 1) != 1) return -2;
      continue;
    }
    if (write(fd, "+", 1) != 1) return -2;
    /* run-length encoding: X*N repeats X N-29 more times */
    char out[kMaxPkt];
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < sizeof out; i++) {
      if (rx[i] == '*' && o > 0 && i + 1 < n) {
        int rep = (unsigned char)rx[++i] - 29;
        char last = out[o - 1];
        for (int k = 0; k < rep && o + 1 < sizeof out; k++) out[o++] = last;
      } else {
        out[o++] = rx[i];
      }
    }
    out[o] = 0;
    memcpy(rx, out, o + 1);
    return 0;
  }
}

/* sends a packet and waits for its '+' (resending on '-') */
static int putpkt(const char* p) {
  char buf[kMaxPkt];
  unsigned sum = 0;
  for (const char* q = p; *q; q++) sum += (unsigned char)*q;
  int n = snprintf(buf, sizeof buf, "$%s#%02x", p, sum & 0xff);
  show("->", p);
  for (int tries = 0; tries < 5; tries++) {
    if (write(fd, buf, (size_t)n) != n) return -2;
    int c;
    do c = getbyte(60);
    while (c >= 0 && c != '+' && c != '-');
    if (c == '+') return 0;
    if (c < 0) return c;
  }
  return -2;
}

/* a request and its reply (into rx); NULL when the connection failed */
static const char* ask(const char* p) {
  if (putpkt(p) != 0 || getpkt(60) != 0) {
    printf("<- (no reply)\n");
    return NULL;
  }
  show("<-", rx);
  return rx;
}

/* ---- the symbol map ---------------------------------------------------- */
struct sym {
  uint64_t addr;
  char name[64];
};
static struct sym* syms;
static size_t nsyms;

static void load_map(const char* path) {
  FILE* f = fopen(path, "r");
  if (!f) return;
  char line[256];
  size_t cap = 0;
  while (fgets(line, sizeof line, f)) {
    unsigned long long a;
    char t, name[64];
    if (sscanf(line, "%llx %c %63s", &a, &t, name) != 3) continue;
    if (t != 'T' && t != 't' && t != 'W' && t != 'w') continue;
    if (nsyms == cap) {
      cap = cap ? 2 * cap : 1024;
      syms = realloc(syms, cap * sizeof *syms);
      if (!syms) exit(2);
    }
    syms[nsyms].addr = a;
    snprintf(syms[nsyms].name, sizeof syms[nsyms].name, "%s", name);
    nsyms++;
  }
  fclose(f);
}

static uint64_t sym_addr(const char* name) {
  for (size_t i = 0; i < nsyms; i++)
    if (!strcmp(syms[i].name, name)) return syms[i].addr;
  return 0;
}

/* "name+0xoff" for an address within 64 KiB above a text symbol */
static const char* sym_name(uint64_t a) {
  static char b[96];
  const struct sym* best = NULL;
  for (size_t i = 0; i < nsyms; i++)
    if (syms[i].addr <= a && (!best || syms[i].addr > best->addr)) best = &syms[i];
  if (!best || a - best->addr > 0x10000) return NULL;
  snprintf(b, sizeof b, "%s+0x%llx", best->name, (unsigned long long)(a - best->addr));
  return b;
}

/* ---- registers, by name from the stub's target description -------------- */
static char regname[256][24];
static int nregs;

static void load_regs(void) {
  static char xml[kMaxPkt * 2];
  size_t len = 0;
  for (int chunk = 0; chunk < 16; chunk++) {
    char q[96];
    snprintf(q, sizeof q, "qXfer:features:read:target.xml:%zx,%x", len, 0x800);
    if (!ask(q) || (rx[0] != 'm' && rx[0] != 'l')) break;
    size_t n = strlen(rx + 1);
    if (len + n >= sizeof xml) break;
    memcpy(xml + len, rx + 1, n);
    len += n;
    xml[len] = 0;
    if (rx[0] == 'l') break;
  }
  /* registers in document order; regnum="N" restarts the count at N */
  int next = 0;
  for (const char* p = xml; (p = strstr(p, "<reg ")) != NULL; p++) {
    const char* end = strchr(p, '>');
    const char* nm = strstr(p, "name=\"");
    const char* rn = strstr(p, "regnum=\"");
    if (!end || !nm || nm > end) continue;
    if (rn && rn < end) next = atoi(rn + 8);
    if (next >= 0 && next < 256) {
      nm += 6;
      size_t k = 0;
      while (nm[k] && nm[k] != '"' && k + 1 < sizeof regname[0]) k++;
      memcpy(regname[next], nm, k);
      regname[next][k] = 0;
      if (next + 1 > nregs) nregs = next + 1;
    }
    next++;
  }
}

static int regnum(const char* name) {
  for (int i = 0; i < nregs; i++)
    if (!strcmp(regname[i], name)) return i;
  return -1;
}

/* little-endian hex as the target sends it -> value */
static int le_hex(const char* h, uint64_t* v) {
  size_t n = strlen(h);
  if (n == 0 || n > 16 || n % 2) return 0;
  *v = 0;
  for (size_t i = 0; i < n; i += 2) {
    int a = hexval(h[i]), b = hexval(h[i + 1]);
    if (a < 0 || b < 0) return 0;
    *v |= (uint64_t)(a * 16 + b) << (4 * i);
  }
  return 1;
}

static int reg(const char* name, uint64_t* v) {
  int n = regnum(name);
  char q[32];
  if (n < 0) return 0;
  snprintf(q, sizeof q, "p%x", n);
  return ask(q) && le_hex(rx, v);
}

static int select_thread(int t) {
  char q[32];
  snprintf(q, sizeof q, "Hg%x", t);
  return ask(q) && !strcmp(rx, "OK");
}

/* rip rsp cr3 and 8 words of the stack (text addresses named) */
static uint64_t show_regs(const char* where) {
  uint64_t rip = 0, rsp = 0, cr3 = 0;
  int ok = reg("rip", &rip) & reg("rsp", &rsp) & reg("cr3", &cr3);
  const char* s = sym_name(rip);
  printf("REGS %s rip=0x%016llx%s%s%s rsp=0x%016llx cr3=0x%llx\n", where, (unsigned long long)rip,
         s ? " <" : "", s ? s : "", s ? ">" : "", (unsigned long long)rsp, (unsigned long long)cr3);
  check(ok, "regs", "%s: rip/rsp/cr3 read", where);
  char q[64];
  snprintf(q, sizeof q, "m%llx,40", (unsigned long long)rsp);
  if (ask(q) && strlen(rx) == 128) {
    printf("STACK %s (words at rsp; text addresses named from the map):\n", where);
    for (int i = 0; i < 8; i++) {
      char w[17];
      uint64_t v;
      memcpy(w, rx + 16 * i, 16);
      w[16] = 0;
      if (!le_hex(w, &v)) break;
      const char* n = sym_name(v);
      printf("  #%d 0x%016llx%s%s\n", i, (unsigned long long)v, n ? " " : "", n ? n : "");
    }
  } else {
    check(0, "stack", "%s: stack at 0x%llx not readable", where, (unsigned long long)rsp);
  }
  return rip;
}

/* a stop reply: T/S SIG, thread, reason; 0 when rx is none */
struct stop {
  int sig, thread;
  char why[16];
};
static int parse_stop(struct stop* s) {
  memset(s, 0, sizeof *s);
  if ((rx[0] != 'T' && rx[0] != 'S') || hexval(rx[1]) < 0 || hexval(rx[2]) < 0) return 0;
  s->sig = hexval(rx[1]) * 16 + hexval(rx[2]);
  if (rx[0] == 'S') return rx[3] == 0;
  for (char* p = rx + 3; *p;) {
    char* semi = strchr(p, ';');
    char* colon = strchr(p, ':');
    if (!semi || !colon || colon > semi) return 0;
    size_t kl = (size_t)(colon - p);
    if (kl == 6 && !strncmp(p, "thread", 6)) s->thread = (int)strtol(colon + 1, NULL, 16);
    else if ((kl == 7 && !strncmp(p, "swbreak", 7)) || (kl == 7 && !strncmp(p, "hwbreak", 7)))
      snprintf(s->why, sizeof s->why, "%.*s", (int)kl, p);
    p = semi + 1;
  }
  return 1;
}

static int console_has(const char* path, const char* mark);

/* `c` and the stop at ADDR by WHY: 1 when it stopped there, 0 when not,
 * 2 when the guest's console shows LATE (a line it prints only after ADDR
 * ran) with no stop: the breakpoint was missed, the guest runs on */
static int run_to(uint64_t addr, const char* why, const char* name, const char* console, const char* late) {
  struct stop s;
  putpkt("c");
  int r = -1;
  for (double until = now() + kWait; r == -1 && now() < until;) {
    r = getpkt(0.5);
    if (r == -1 && late && console_has(console, late)) {
      r = getpkt(0.5); /* a stop already sent */
      if (r == -1) return 2;
    }
  }
  /* qvm may end with the guest (powered off) before the line was seen */
  if (r == -2 && late && console_has(console, late)) return 2;
  if (r == 0) show("<-", rx);
  int ok = r == 0 && parse_stop(&s) && s.sig == 5 && !strcmp(s.why, why);
  check(ok, name, "stop reply '%s'", r == 0 ? rx : r == -1 ? "(timeout)" : "(connection closed)");
  if (r != 0) return 0;
  if (s.thread > 0) select_thread(s.thread);
  uint64_t rip = show_regs(name);
  check(rip == addr, name, "rip 0x%llx, expected 0x%llx", (unsigned long long)rip, (unsigned long long)addr);
  return ok && rip == addr;
}

/* A missed breakpoint fails, unless the lane names why its emulated host
 * cannot deliver that kind (QVM_GDB_HW_MISS for hbreak): then it is a skip
 * with that reason. */
static void missed(const char* name, const char* late, const char* env) {
  const char* why = getenv(env);
  if (why && *why) {
    printf("CHECK %s skip the guest printed '%s' without stopping: %s\n", name, late, why);
    printf("SKIPPED %s\n", name);
  } else {
    check(0, name, "the guest printed '%s': it ran past the breakpoint without stopping", late);
  }
}

static int console_has(const char* path, const char* mark) {
  FILE* f = fopen(path, "r");
  if (!f) return 0;
  char line[512];
  int found = 0;
  while (!found && fgets(line, sizeof line, f)) found = strstr(line, mark) != NULL;
  fclose(f);
  return found;
}

int main(int argc, char** argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: qvm-gdbcheck SOCKET MAP CONSOLE FIFO\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  signal(SIGPIPE, SIG_IGN); /* qvm gone: a failed write, reported */
  load_map(argv[2]);
  uint64_t a_start = sym_addr("start_kernel"), a_off = sym_addr("kernel_power_off"),
           a_reboot = sym_addr("__x64_sys_reboot"), a_stext = sym_addr("_stext"), a_etext = sym_addr("_etext");
  check(a_start && a_off && a_reboot, "map", "%s: start_kernel 0x%llx, __x64_sys_reboot 0x%llx, kernel_power_off 0x%llx",
        argv[2], (unsigned long long)a_start, (unsigned long long)a_reboot, (unsigned long long)a_off);
  if (!a_start || !a_off || !a_reboot) return 1;
  if (!a_stext || !a_etext) a_stext = 0xffffffff80000000ull, a_etext = ~0ull; /* the kernel's half */

  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", argv[1]);
  for (int i = 0; i < 10 * kWait; i++) {  /* qvm creates the socket once built */
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr*)&sa, sizeof sa) == 0) break;
    if (fd >= 0) close(fd);
    fd = -1;
    usleep(100000);
  }
  check(fd >= 0, "connect", "%s", argv[1]);
  if (fd < 0) return 1;

  struct stop s;
  ask("qSupported:multiprocess-;swbreak+;hwbreak+;xmlRegisters=i386");
  check(ask("?") && parse_stop(&s), "attach", "gdb-wait stop '%s'", rx);
  check(ask("qfThreadInfo") && !strcmp(rx, "m1,2") && ask("qsThreadInfo") && !strcmp(rx, "l"), "threads",
        "2 vCPUs");
  load_regs();
  check(regnum("rip") >= 0 && regnum("rsp") >= 0 && regnum("cr3") >= 0, "target-xml", "%d registers, rip %d cr3 %d",
        nregs, regnum("rip"), regnum("cr3"));
  show_regs("attach");

  /* hbreak start_kernel */
  char q[96];
  snprintf(q, sizeof q, "Z1,%llx,1", (unsigned long long)a_start);
  check(ask(q) && !strcmp(rx, "OK"), "hbreak-set", "Z1 at start_kernel");
  int hit = run_to(a_start, "hwbreak", "hbreak-start_kernel", argv[3], "QVM-GUEST-INIT");
  if (hit == 2) missed("hbreak-start_kernel", "QVM-GUEST-INIT", "QVM_GDB_HW_MISS");
  snprintf(q, sizeof q, "z1,%llx,1", (unsigned long long)a_start);
  /* all-stop: a running guest takes no packets but Ctrl-C (cleared below) */
  if (hit != 2) check(ask(q) && !strcmp(rx, "OK"), "hbreak-clear", "");

  /* on to the shell marker (the guest runs already when the breakpoint
   * was missed), then Ctrl-C */
  if (hit != 2) putpkt("c");
  int r = -1;
  const char* mark = "QVM-GUEST-SHELL";
  double until = now() + kWait;
  while (now() < until && !console_has(argv[3], mark)) {
    r = getpkt(0.2);
    if (r != -1) break; /* a stop or the end: unexpected */
  }
  if (r == 0) show("<-", rx);
  check(r == -1 && console_has(argv[3], mark), "init-marker", "the guest reached %s while running under the stub%s",
        mark, r == 0 ? " (but it stopped first)" : r == -2 ? " (connection closed)" : "");
  printf("-> \\x03 (Ctrl-C)\n");
  double t0 = now();
  if (write(fd, "\x03", 1) != 1) return 1;
  r = getpkt(kCtrlCBound);
  double dt = now() - t0;
  if (r == 0) show("<-", rx);
  check(r == 0 && parse_stop(&s) && s.sig == 2, "ctrl-c", "stop reply '%s' after %.1f ms (bound %d s)",
        r == 0 ? rx : r == -1 ? "(timeout)" : "(closed)", dt * 1e3, kCtrlCBound);
  printf("FIGURE ctrl-c-stop-us %.0f\n", dt * 1e6);
  if (r != 0) return 1;
  if (hit == 2) check(ask(q) && !strcmp(rx, "OK"), "hbreak-clear", "");
  check(ask("qfThreadInfo") && !strcmp(rx, "m1,2"), "ctrl-c-threads", "2 threads after Ctrl-C");
  for (int t = 1; t <= 2; t++) {
    char w[32];
    snprintf(w, sizeof w, "ctrl-c-vcpu%d", t);
    check(select_thread(t), w, "Hg%d", t);
    uint64_t rip = show_regs(w);
    check(rip >= a_stext && rip < a_etext, w, "rip 0x%llx in the kernel's text", (unsigned long long)rip);
  }

  /* `poweroff` typed, stopped on the way by a software breakpoint (Z0:
   * int3 in guest memory) on kernel_power_off; where the emulated host
   * cannot deliver the guest's int3 to KVM (QVM_GDB_NO_SWBREAK names why:
   * the guest would take it itself and die) by an hbreak on the reboot
   * system call instead */
  const char* nosw = getenv("QVM_GDB_NO_SWBREAK");
  int sw = !(nosw && *nosw);
  uint64_t at = sw ? a_off : a_reboot;
  const char* name = sw ? "break-kernel_power_off" : "hbreak-sys_reboot";
  if (!sw) {
    printf("CHECK break-kernel_power_off skip not planted: %s\n", nosw);
    printf("SKIPPED break-kernel_power_off\n");
  }
  snprintf(q, sizeof q, "Z%d,%llx,1", sw ? 0 : 1, (unsigned long long)at);
  check(ask(q) && !strcmp(rx, "OK"), sw ? "break-set" : "hbreak-set", "%s", q);
  int in = open(argv[4], O_WRONLY | O_NONBLOCK);
  check(in >= 0 && write(in, "poweroff\n", 9) == 9, "type", "poweroff into %s", argv[4]);
  if (in >= 0) close(in);
  hit = run_to(at, sw ? "swbreak" : "hwbreak", name, argv[3], "reboot: Power down");
  if (hit == 2) {
    missed(name, "reboot: Power down", sw ? "QVM_GDB_SW_MISS" : "QVM_GDB_HW_MISS");
  } else {
    snprintf(q, sizeof q, "z%d,%llx,1", sw ? 0 : 1, (unsigned long long)at);
    check(ask(q) && !strcmp(rx, "OK"), sw ? "break-clear" : "hbreak-clear", "");
    putpkt("c");
  }

  /* the guest powers off: qvm ends, the connection with it */
  r = getpkt(kWait);
  if (r == 0) show("<-", rx);
  check(r == -2 || (r == 0 && (rx[0] == 'W' || rx[0] == 'X')), "finish", "after continue: %s",
        r == -2 ? "connection closed (qvm ended)" : r == -1 ? "timeout" : rx);
  check(badsum == 0, "checksums", "%d bad reply checksum(s)", badsum);
  printf("DONE %d failed\n", nfail);
  return nfail ? 1 : 0;
}
