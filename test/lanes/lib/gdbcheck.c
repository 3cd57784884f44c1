/* qvm-gdbcheck: a scripted gdb remote-protocol session against qvm's stub,
 * for the lanes' gdb-kernel test (a Linux guest booted with nokaslr, two
 * vCPUs, `set gdb SOCKET`, `set gdb-wait on`), on either architecture: the
 * stub's target description names it (<architecture>), and a table below
 * gives that architecture's registers and symbols; nothing else differs.
 * Every packet is framed and checksummed; every reply's checksum is
 * checked (a bad one is NAKed and counted); stop replies are parsed
 * (signal, thread, swbreak/hwbreak).
 *
 *   qvm-gdbcheck SOCKET MAP CONSOLE FIFO
 *
 * MAP is a System.map-format file naming _stext, _etext, start_kernel,
 * linux_banner, kernel_power_off and the reboot system call's entry
 * (__x64_sys_reboot, __arm64_sys_reboot); CONSOLE the file the guest's
 * console is copied to; FIFO qvm's stdin. The session:
 *   attach (the guest stopped before its first instruction: a stop reply),
 *   2 threads (one per vCPU); the target description has the
 *   architecture's registers (the table's list: what vmm/README.md says
 *   the stub shows);
 *   hbreak start_kernel (Z1), continue, the stop at it: pc, sp and one
 *   more register, the stack's words (text addresses named from MAP);
 *   continue to the guest's shell marker on CONSOLE, then Ctrl-C (0x03):
 *   the time to the stop reply, 2 threads, both vCPUs' pc in the kernel's
 *   text; linux_banner read by guest-virtual address ("Linux version");
 *   one single step (pc moves, the same thread reports);
 *   `poweroff` typed into FIFO: an hbreak (Z1) on the reboot system call,
 *   then a software breakpoint (Z0: the stub's breakpoint instruction in
 *   guest memory) on kernel_power_off, which that call reaches; both
 *   removed, detach (D): the guest runs on and powers off by itself (its
 *   console's "reboot: Power down") and qvm closes the connection.
 * A breakpoint the guest runs past (its console shows a later line, or it
 * stops at the next breakpoint first) fails, or is a skip with the reason
 * the lane gives in QVM_GDB_HW_MISS (hbreak) or QVM_GDB_SW_MISS (break);
 * QVM_GDB_NO_SWBREAK (why the host cannot run one: the guest would take
 * the breakpoint instruction itself) leaves the software breakpoint out,
 * a skip. `SKIPPED NAME` lines name the skips. A connection qvm closed
 * fails. Prints the transcript (`-> packet`, `<- reply`), `CHECK NAME
 * ok|FAIL detail` per check and `FIGURE ctrl-c-stop-us N`; exit 0 when
 * every check passed. Waits are bounded (30 s for the Ctrl-C stop, kWait s
 * otherwise); nothing else is timed. */
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

static int quiet; /* a memory scan: its packets stay out of the transcript */

static void show(const char* dir, const char* p) {
  if (quiet) return;
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
    /* a stub that closes after its last reply (D) refuses the ack: the
     * reply arrived whole all the same */
    if (write(fd, "+", 1) != 1 && errno != EPIPE && errno != ECONNRESET) return -2;
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

/* guest memory by virtual address (m): the bytes read into out, at most
 * len (an error reply: 0) */
static size_t read_mem(uint64_t addr, size_t len, unsigned char* out) {
  char q[64];
  snprintf(q, sizeof q, "m%llx,%zx", (unsigned long long)addr, len);
  if (!ask(q) || rx[0] == 'E') return 0;
  size_t n = 0;
  while (n < len && rx[2 * n] && rx[2 * n + 1]) {
    int a = hexval(rx[2 * n]), b = hexval(rx[2 * n + 1]);
    if (a < 0 || b < 0) break;
    out[n++] = (unsigned char)(a * 16 + b);
  }
  return n;
}

/* ---- the architectures ------------------------------------------------- */
/* What differs between the architectures, found by the target
 * description's <architecture>: the registers it must have (vmm/README.md,
 * "Debugging a guest live"), the three shown at a stop, the reboot system
 * call's entry, and where the kernel's half of the address space starts
 * (text bounds when the map has no _stext/_etext). */
struct arch {
  const char* name;
  const char* regs;
  const char* pc;
  const char* sp;
  const char* extra;
  const char* sys_reboot;
  uint64_t kernel_half;
  uint64_t user_top; /* user addresses lie below it */
  unsigned bp_kind; /* Z0's kind: the breakpoint instruction's length */
};
static const struct arch arches[] = {
    {"i386:x86-64",
     "rax rbx rcx rdx rsi rdi rbp rsp r8 r9 r10 r11 r12 r13 r14 r15 rip eflags cs ss ds es fs gs "
     "fs_base gs_base cr0 cr2 cr3 cr4 efer",
     "rip", "rsp", "cr3", "__x64_sys_reboot", 0xffffffff80000000ull, 0x0000800000000000ull, 1},
    {"aarch64",
     "x0 x1 x2 x3 x4 x5 x6 x7 x8 x9 x10 x11 x12 x13 x14 x15 x16 x17 x18 x19 x20 x21 x22 x23 x24 "
     "x25 x26 x27 x28 x29 x30 sp pc cpsr",
     "pc", "sp", "cpsr", "__arm64_sys_reboot", 0xffff000000000000ull, 0x0010000000000000ull, 4},
};
static const struct arch* arch;

/* ---- the symbol map ---------------------------------------------------- */
struct sym {
  uint64_t addr;
  int text;
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
    if (nsyms == cap) {
      cap = cap ? 2 * cap : 1024;
      syms = realloc(syms, cap * sizeof *syms);
      if (!syms) exit(2);
    }
    syms[nsyms].addr = a;
    syms[nsyms].text = t == 'T' || t == 't' || t == 'W' || t == 'w';
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
    if (syms[i].text && syms[i].addr <= a && (!best || syms[i].addr > best->addr)) best = &syms[i];
  if (!best || a - best->addr > 0x10000) return NULL;
  snprintf(b, sizeof b, "%s+0x%llx", best->name, (unsigned long long)(a - best->addr));
  return b;
}

/* ---- registers, by name from the stub's target description -------------- */
static char regname[256][24];
static int nregs;
static char xml_arch[64];

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
  const char* a = strstr(xml, "<architecture>");
  if (a) {
    a += strlen("<architecture>");
    size_t k = 0;
    while (a[k] && a[k] != '<' && k + 1 < sizeof xml_arch) k++;
    memcpy(xml_arch, a, k);
    xml_arch[k] = 0;
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

/* the table's registers the target description lacks (empty: none) */
static const char* missing_regs(void) {
  static char miss[512];
  char list[512];
  miss[0] = 0;
  snprintf(list, sizeof list, "%s", arch->regs);
  for (char* r = strtok(list, " "); r; r = strtok(NULL, " "))
    if (regnum(r) < 0 && strlen(miss) + strlen(r) + 2 < sizeof miss) strcat(strcat(miss, " "), r);
  return miss;
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

/* pc, sp, the extra register and 8 words of the stack (text addresses
 * named; a stack that cannot be read fails unless `nostack`: before the
 * first instruction an arm64 vCPU's sp is 0); returns pc */
static uint64_t show_regs_at(const char* where, int nostack) {
  uint64_t pc = 0, sp = 0, ex = 0;
  int ok = reg(arch->pc, &pc) & reg(arch->sp, &sp) & reg(arch->extra, &ex);
  const char* s = sym_name(pc);
  printf("REGS %s %s=0x%016llx%s%s%s %s=0x%016llx %s=0x%llx\n", where, arch->pc, (unsigned long long)pc,
         s ? " <" : "", s ? s : "", s ? ">" : "", arch->sp, (unsigned long long)sp, arch->extra,
         (unsigned long long)ex);
  check(ok, "regs", "%s: %s/%s/%s read", where, arch->pc, arch->sp, arch->extra);
  char q[64];
  snprintf(q, sizeof q, "m%llx,40", (unsigned long long)sp);
  if (ask(q) && strlen(rx) == 128) {
    printf("STACK %s (words at %s; text addresses named from the map):\n", where, arch->sp);
    for (int i = 0; i < 8; i++) {
      char w[17];
      uint64_t v;
      memcpy(w, rx + 16 * i, 16);
      w[16] = 0;
      if (!le_hex(w, &v)) break;
      const char* n = sym_name(v);
      printf("  #%d 0x%016llx%s%s\n", i, (unsigned long long)v, n ? " " : "", n ? n : "");
    }
  } else if (nostack) {
    printf("STACK %s: 0x%llx not readable (no stack yet)\n", where, (unsigned long long)sp);
  } else {
    check(0, "stack", "%s: stack at 0x%llx not readable", where, (unsigned long long)sp);
  }
  return pc;
}
static uint64_t show_regs(const char* where) { return show_regs_at(where, 0); }

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

static int console_has(const char* path, const char* mark) {
  FILE* f = fopen(path, "r");
  if (!f) return 0;
  char line[512];
  int found = 0;
  while (!found && fgets(line, sizeof line, f)) found = strstr(line, mark) != NULL;
  fclose(f);
  return found;
}

/* `c` and the next stop: 1 stopped (s filled, the stopping thread
 * selected, *pc its pc), 2 when the guest's console shows LATE (a line it
 * prints only after the breakpoints ran) with no stop: a breakpoint was
 * missed, the guest runs on; -1 timeout, -2 connection closed */
static int resume(const char* console, const char* late, struct stop* s, uint64_t* pc, const char* name) {
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
  if (r != 0) return r;
  show("<-", rx);
  if (!parse_stop(s)) {
    check(0, name, "not a stop reply: '%s'", rx);
    return -2;
  }
  if (s->thread > 0) select_thread(s->thread);
  *pc = show_regs(name);
  return 1;
}

/* A missed breakpoint fails, unless the lane names why its emulated host
 * cannot deliver that kind (ENV): then it is a skip with that reason. */
static void missed(const char* name, const char* evidence, const char* env) {
  const char* why = getenv(env);
  if (why && *why) {
    printf("CHECK %s skip %s: %s\n", name, evidence, why);
    printf("SKIPPED %s\n", name);
  } else {
    check(0, name, "%s: it ran past the breakpoint without stopping", evidence);
  }
}

/* the stop of a breakpoint: SIGTRAP, the kind, at addr */
static int at_break(const struct stop* s, uint64_t pc, const char* why, uint64_t addr, const char* name) {
  int ok = s->sig == 5 && !strcmp(s->why, why) && pc == addr;
  check(ok, name, "stop SIG%02x %s at 0x%llx, expected SIG05 %s at 0x%llx", s->sig, s->why[0] ? s->why : "-",
        (unsigned long long)pc, why, (unsigned long long)addr);
  return ok;
}

static int zpacket(char op, int type, uint64_t addr, unsigned kind) {
  char q[64];
  snprintf(q, sizeof q, "%c%d,%llx,%x", op, type, (unsigned long long)addr, kind);
  return ask(q) && !strcmp(rx, "OK");
}

/* qfThreadInfo/qsThreadInfo: the thread ids, "1,2" */
static int threads(char* out, size_t n) {
  out[0] = 0;
  if (!ask("qfThreadInfo")) return 0;
  for (int i = 0; i < 64 && rx[0] == 'm'; i++) {
    if (strlen(out) + strlen(rx) + 2 >= n) return 0;
    if (out[0]) strcat(out, ",");
    strcat(out, rx + 1);
    if (!ask("qsThreadInfo")) return 0;
  }
  return rx[0] == 'l';
}

int main(int argc, char** argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: qvm-gdbcheck SOCKET MAP CONSOLE FIFO\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  signal(SIGPIPE, SIG_IGN); /* qvm gone: a failed write, reported */
  const char* console = argv[3];
  load_map(argv[2]);

  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", argv[1]);
  for (int i = 0; i < 10 * kWait; i++) { /* qvm creates the socket once built */
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr*)&sa, sizeof sa) == 0) break;
    if (fd >= 0) close(fd);
    fd = -1;
    usleep(100000);
  }
  check(fd >= 0, "connect", "%s", argv[1]);
  if (fd < 0) return 1;

  struct stop s;
  char tl[256];
  ask("qSupported:multiprocess-;swbreak+;hwbreak+;xmlRegisters=i386,aarch64");
  check(ask("?") && parse_stop(&s), "attach", "gdb-wait stop '%s'", rx);
  check(threads(tl, sizeof tl) && !strcmp(tl, "1,2"), "threads", "'%s', expected 1,2 (2 vCPUs)", tl);
  load_regs();
  for (size_t i = 0; i < sizeof arches / sizeof arches[0]; i++)
    if (!strcmp(arches[i].name, xml_arch)) arch = &arches[i];
  check(arch != NULL, "target-xml", "architecture '%s', %d registers", xml_arch, nregs);
  if (!arch) return 1;
  const char* miss = missing_regs();
  check(!miss[0], "target-xml", "%s: %d registers, %s %d, %s %d%s%s", arch->name, nregs, arch->pc, regnum(arch->pc),
        arch->extra, regnum(arch->extra), miss[0] ? "; missing:" : "", miss);

  uint64_t a_start = sym_addr("start_kernel"), a_off = sym_addr("kernel_power_off"),
           a_reboot = sym_addr(arch->sys_reboot), a_banner = sym_addr("linux_banner"),
           a_stext = sym_addr("_stext"), a_etext = sym_addr("_etext");
  check(a_start && a_off && a_reboot, "map",
        "%s: start_kernel 0x%llx, %s 0x%llx, kernel_power_off 0x%llx, linux_banner 0x%llx", argv[2],
        (unsigned long long)a_start, arch->sys_reboot, (unsigned long long)a_reboot, (unsigned long long)a_off,
        (unsigned long long)a_banner);
  if (!a_start || !a_off || !a_reboot) return 1;
  uint64_t a_rodata = a_etext; /* where the banner is looked for without linux_banner */
  if (!a_stext || !a_etext) a_stext = arch->kernel_half, a_etext = ~0ull;
  show_regs_at("attach", 1);

  /* hbreak start_kernel */
  uint64_t pc = 0;
  check(zpacket('Z', 1, a_start, 1), "hbreak-set", "Z1 at start_kernel");
  int hit = resume(console, "QVM-GUEST-INIT", &s, &pc, "hbreak-start_kernel");
  if (hit == 1) at_break(&s, pc, "hwbreak", a_start, "hbreak-start_kernel");
  else if (hit == 2) missed("hbreak-start_kernel", "the guest printed 'QVM-GUEST-INIT' without stopping", "QVM_GDB_HW_MISS");
  else check(0, "hbreak-start_kernel", "no stop: %s", hit == -1 ? "timeout" : "connection closed");
  if (hit < 0) return 1;
  /* all-stop: a running guest takes no packets but Ctrl-C (cleared below) */
  if (hit == 1) check(zpacket('z', 1, a_start, 1), "hbreak-clear", "");

  /* on to the shell marker (the guest runs already when the breakpoint
   * was missed), then Ctrl-C */
  if (hit == 1) putpkt("c");
  int r = -1;
  const char* mark = "QVM-GUEST-SHELL";
  double until = now() + kWait;
  while (now() < until && !console_has(console, mark)) {
    r = getpkt(0.2);
    if (r != -1) break; /* a stop or the end: unexpected */
  }
  if (r == 0) show("<-", rx);
  check(r == -1 && console_has(console, mark), "init-marker", "the guest reached %s while running under the stub%s",
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
  int stopped = s.thread > 0 ? s.thread : 1;
  if (hit == 2) check(zpacket('z', 1, a_start, 1), "hbreak-clear", "");
  check(threads(tl, sizeof tl) && !strcmp(tl, "1,2"), "ctrl-c-threads", "'%s' after Ctrl-C, expected 1,2", tl);
  for (int t = 1; t <= 2; t++) {
    char w[32];
    snprintf(w, sizeof w, "ctrl-c-vcpu%d", t);
    check(select_thread(t), w, "Hg%d", t);
    /* Linux at its prompt idles in the kernel; on a loaded host a vCPU can
     * be caught in a user process instead (its stack, a user address, was
     * read above: through the vCPU's page tables, as the kernel's) */
    pc = show_regs(w);
    int user = pc < arch->user_top;
    check((pc >= a_stext && pc < a_etext) || user, w, "%s 0x%llx %s", arch->pc, (unsigned long long)pc,
          user ? "in a user process" : "in the kernel's text");
  }

  /* memory by guest-virtual address: the kernel's banner, "Linux version
   * ..." (linux_banner). A kernel without CONFIG_KALLSYMS_ALL (Debian's)
   * names no data symbol in kallsyms: then the banner is looked for in
   * the read-only data after _etext, 2 KiB per read, at most kScan bytes
   * (a page that cannot be read is passed over), for the line
   * QVM_GDB_BANNER when the lane gives it (the emulated host runs the same
   * kernel build: its /proc/version), else for "Linux version ". The
   * whole line matters: Linux 6.1 links a first copy from init/version.o
   * whose version reads "#" without the build number, and the real one
   * (init/version-timestamp.o, linked last) near the end of the data. */
  char q[96];
  static const char prefix[] = "Linux version ";
  enum { kChunk = 0x800, kScan = 32 << 20, kLine = 256 };
  const char* want = getenv("QVM_GDB_BANNER");
  char wline[kLine + 1] = "";
  if (want) snprintf(wline, sizeof wline, "%.*s", (int)strcspn(want, "\n"), want);
  const char* needle = wline[0] ? wline : prefix;
  size_t nlen = strlen(needle);
  unsigned char buf[kChunk + kLine + 1];
  uint64_t found = 0;
  size_t have = 0;
  if (a_banner) {
    found = a_banner;
  } else if (a_rodata) {
    printf("SCAN for '%s' from _etext 0x%llx (kallsyms names no linux_banner)\n", needle,
           (unsigned long long)a_rodata);
    quiet = 1;
    size_t off = 0, reads = 0;
    while (!found && off < kScan) {
      size_t n = read_mem(a_rodata + off, kChunk, buf);
      reads++;
      if (n < nlen) { /* not mapped (a gap the kernel freed): the next page */
        off = (size_t)(((a_rodata + off + 0x1000) & ~0xfffull) - a_rodata);
        continue;
      }
      for (size_t i = 0; i + nlen <= n; i++)
        if (!memcmp(buf + i, needle, nlen)) {
          found = a_rodata + off + i;
          break;
        }
      off += n - (nlen - 1); /* overlap: a match across two reads */
    }
    quiet = 0;
    printf("SCAN %zu reads (%zu KiB), %s at 0x%llx\n", reads, off >> 10, found ? "found" : "not found",
           (unsigned long long)found);
  }
  if (found) have = read_mem(found, kLine, buf);
  buf[have < kLine ? have : kLine] = 0;
  for (size_t i = 0; i < have; i++)
    if (buf[i] == '\n' || buf[i] < 0x20 || buf[i] > 0x7e) {
      buf[i] = 0;
      break;
    }
  printf("BANNER at 0x%llx: %s\n", (unsigned long long)found, (const char*)buf);
  check(found && (wline[0] ? !strcmp((const char*)buf, wline) : !strncmp((const char*)buf, prefix, sizeof prefix - 1)),
        "mem-banner", "the kernel's banner read by virtual address at 0x%llx%s%s", (unsigned long long)found,
        wline[0] ? ", expected the host's /proc/version: " : ", expected the prefix ", needle);

  /* one single step of the thread Ctrl-C reported: its pc moves (to the
   * next instruction, or to an interrupt's vector) and it reports */
  uint64_t before = 0, after = 0;
  snprintf(q, sizeof q, "Hc%x", stopped);
  int sel = select_thread(stopped) && reg(arch->pc, &before) && ask(q) && !strcmp(rx, "OK");
  check(sel, "step-select", "thread %d at 0x%llx", stopped, (unsigned long long)before);
  putpkt("s");
  r = getpkt(kWait);
  if (r == 0) show("<-", rx);
  char sreply[64];
  snprintf(sreply, sizeof sreply, "%.63s", r == 0 ? rx : r == -1 ? "(timeout)" : "(closed)");
  int stepped = r == 0 && parse_stop(&s) && s.sig == 5;
  if (stepped && s.thread > 0) select_thread(s.thread);
  if (stepped) reg(arch->pc, &after);
  check(stepped && s.thread == stopped && after != before, "step",
        "stop '%s' on thread %d, %s 0x%llx -> 0x%llx%s%s%s", sreply,
        s.thread, arch->pc, (unsigned long long)before, (unsigned long long)after, sym_name(after) ? " <" : "",
        sym_name(after) ? sym_name(after) : "", sym_name(after) ? ">" : "");
  if (r != 0) return 1;

  /* `poweroff` typed: the reboot system call stops at an hbreak (Z1),
   * then kernel_power_off, which it calls, at a software breakpoint (Z0:
   * the breakpoint instruction in guest memory) unless the lane says the
   * host cannot run one (QVM_GDB_NO_SWBREAK: the guest would take it) */
  const char* nosw = getenv("QVM_GDB_NO_SWBREAK");
  int sw = !(nosw && *nosw);
  char hname[64];
  snprintf(hname, sizeof hname, "hbreak-%s", arch->sys_reboot + strlen(arch->sys_reboot) - strlen("sys_reboot"));
  if (!sw) {
    printf("CHECK break-kernel_power_off skip not planted: %s\n", nosw);
    printf("SKIPPED break-kernel_power_off\n");
  }
  check(zpacket('Z', 1, a_reboot, 1), "hbreak-set", "Z1 at %s", arch->sys_reboot);
  if (sw) check(zpacket('Z', 0, a_off, arch->bp_kind), "break-set", "Z0 at kernel_power_off");
  int in = open(argv[4], O_WRONLY | O_NONBLOCK);
  check(in >= 0 && write(in, "poweroff\n", 9) == 9, "type", "poweroff into %s", argv[4]);
  if (in >= 0) close(in);
  const char* late = "reboot: Power down";
  hit = resume(console, late, &s, &pc, hname);
  int running = hit == 2; /* the guest runs on: no packets but Ctrl-C */
  if (hit == 1 && sw && pc == a_off && !strcmp(s.why, "swbreak")) {
    /* the software breakpoint came first: the hbreak was missed */
    missed(hname, "the guest stopped at kernel_power_off's software breakpoint first", "QVM_GDB_HW_MISS");
  } else if (hit == 1) {
    at_break(&s, pc, "hwbreak", a_reboot, hname);
    check(zpacket('z', 1, a_reboot, 1), "hbreak-clear", "");
    if (sw) hit = resume(console, late, &s, &pc, "break-kernel_power_off");
    running = hit == 2;
  } else if (hit == 2) {
    missed(hname, "the guest printed 'reboot: Power down' without stopping", "QVM_GDB_HW_MISS");
  } else {
    check(0, hname, "no stop: %s", hit == -1 ? "timeout" : "connection closed");
  }
  if (sw && hit == 1) at_break(&s, pc, "swbreak", a_off, "break-kernel_power_off");
  else if (sw && hit == 2)
    missed("break-kernel_power_off", "the guest printed 'reboot: Power down' without stopping", "QVM_GDB_SW_MISS");
  else if (sw && hit < 0)
    check(0, "break-kernel_power_off", "no stop: %s", hit == -1 ? "timeout" : "connection closed");
  if (hit == 1) {
    /* every breakpoint out, detach: the guest runs on and powers off */
    if (sw) check(zpacket('z', 0, a_off, arch->bp_kind), "break-clear", "");
    zpacket('z', 1, a_reboot, 1); /* gone already unless the Z0 came first */
    check(ask("D") && !strcmp(rx, "OK"), "detach", "D");
    close(fd);
    fd = -1;
    until = now() + kWait;
    while (now() < until && !console_has(console, late)) usleep(200000);
    check(console_has(console, late), "detach-runs", "after the detach the guest printed '%s'", late);
  } else if (running) {
    /* the guest powers off: qvm ends, the connection with it */
    r = getpkt(kWait);
    if (r == 0) show("<-", rx);
    check(r == -2 || (r == 0 && (rx[0] == 'W' || rx[0] == 'X')), "finish", "after continue: %s",
          r == -2 ? "connection closed (qvm ended)" : r == -1 ? "timeout" : rx);
  }
  check(badsum == 0, "checksums", "%d bad reply checksum(s)", badsum);
  printf("DONE %d failed\n", nfail);
  return nfail ? 1 : 0;
}
