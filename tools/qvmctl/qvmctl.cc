// qvmctl: command-line client of /dev/qvm/<system> (see `qvmctl --help`).
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "resmgr/client.h"
#include "resmgr/types.h"
#include "vmm/control_proto.h"

namespace {

using qvm::resmgr::Client;
using qvm::resmgr::ErrnoOf;

// Exit codes.
constexpr int kOk = 0, kFail = 1, kUsage = 2, kNotRunning = 3, kDenied = 4;

const char* kMainHelp =
    "NAME\n"
    "    qvmctl - control running qvm virtual machines through /dev/qvm\n"
    "\n"
    "SYNOPSIS\n"
    "    qvmctl COMMAND [OPTION ...] [NAME]\n"
    "    qvmctl help COMMAND | COMMAND --help | --version\n"
    "\n"
    "COMMANDS\n"
    "    list            the qvm processes found, with their state\n"
    "    status NAME     status report (state, uptime, vCPUs, exits)\n"
    "    env NAME        the VM's description as JSON\n"
    "    console NAME    attach to the guest's serial console (^] detaches)\n"
    "    pause NAME      stop every vCPU in place (time keeps going)\n"
    "    resume NAME     let the vCPUs continue\n"
    "    reset NAME      reset the guest\n"
    "    stop NAME       press the power button (clean shutdown)\n"
    "    kill NAME       power cut: qvm exits at once (exit code 3)\n"
    "    dump NAME       write a guest dump (ELF core for gdb)\n"
    "    stats NAME      exit statistics (--watch for a live table)\n"
    "    gdb NAME [EP]   start the guest's gdb stub, print where gdb connects\n"
    "\n"
    "NAME\n"
    "    The `system` name of the VM (qvm-PID when its configuration gives\n"
    "    none), looked up in $QVM_RESMGR_DIR, /dev/qvm, $XDG_RUNTIME_DIR/qvm\n"
    "    and /tmp/qvm-$UID; or a path to the socket itself.\n"
    "\n"
    "EXIT STATUS\n"
    "    0 done, 1 the operation failed, 2 usage error, 3 qvm is not running,\n"
    "    4 access denied.\n";

const std::map<std::string, std::string> kHelp = {
    {"list",
     "NAME\n    qvmctl list - list running qvm processes\n\nSYNOPSIS\n"
     "    qvmctl list\n\nDESCRIPTION\n"
     "    Prints one line per socket found in the search directories:\n"
     "    NAME, STATE (running, paused, stale: the qvm died, denied: no\n"
     "    access), PID and the socket path.\n"},
    {"status",
     "NAME\n    qvmctl status - status report of a VM\n\nSYNOPSIS\n"
     "    qvmctl status [--json] NAME\n\nDESCRIPTION\n"
     "    State (running or paused), pid, uptime, start time, resets, exits\n"
     "    and one line per vCPU (host thread id, exits; registers while\n"
     "    paused). --json prints the same as one JSON object.\n"},
    {"env",
     "NAME\n    qvmctl env - describe a VM as JSON\n\nSYNOPSIS\n"
     "    qvmctl env NAME\n\nDESCRIPTION\n"
     "    Prints /dev/qvm/NAME/env: the configuration as parsed, the memory\n"
     "    map, the vCPUs and their host threads, the devices with their\n"
     "    locations, interrupts and options, the state, start time and qvm\n"
     "    version.\n"},
    {"console",
     "NAME\n    qvmctl console - attach to a guest console\n\nSYNOPSIS\n"
     "    qvmctl console [--device VDEV] [--timeout SECONDS] NAME\n\n"
     "DESCRIPTION\n"
     "    Shows the guest's output from now on and sends what you type as\n"
     "    guest input. On a terminal, the terminal is put in raw mode and\n"
     "    Ctrl-] (^]) detaches. VDEV is the serial device's instance name\n"
     "    (default ser8250). When standard input ends, qvmctl keeps showing\n"
     "    output until qvm exits, or for SECONDS more with --timeout.\n"},
    {"pause", "NAME\n    qvmctl pause - stop every vCPU in place\n\nSYNOPSIS\n"
              "    qvmctl pause NAME\n\nDESCRIPTION\n"
              "    The vCPUs stop where they are; devices, timers and the guest's\n"
              "    clocks keep going. `qvmctl resume` continues.\n"},
    {"resume", "NAME\n    qvmctl resume - continue a paused VM\n\nSYNOPSIS\n"
               "    qvmctl resume NAME\n"},
    {"reset", "NAME\n    qvmctl reset - reset the guest\n\nSYNOPSIS\n"
              "    qvmctl reset NAME\n\nDESCRIPTION\n"
              "    As if the guest asked for a reset: the VM restarts in place (or\n"
              "    qvm exits 0 with `set reboot-exit on`).\n"},
    {"stop", "NAME\n    qvmctl stop - press the virtual power button\n\nSYNOPSIS\n"
             "    qvmctl stop [--wait SECONDS] NAME\n\nDESCRIPTION\n"
             "    The guest sees its power button (ACPI or PSCI) and shuts down\n"
             "    cleanly; without a device that models one, the VM is powered off.\n"
             "    --wait waits up to SECONDS for qvm to exit (exit status 1 when\n"
             "    it does not).\n"},
    {"kill", "NAME\n    qvmctl kill - power cut\n\nSYNOPSIS\n    qvmctl kill NAME\n\n"
             "DESCRIPTION\n    qvm exits at once with exit code 3.\n"},
    {"dump", "NAME\n    qvmctl dump - write a guest dump\n\nSYNOPSIS\n"
             "    qvmctl dump NAME\n\nDESCRIPTION\n"
             "    qvm writes an ELF64 core (per-vCPU registers, one PT_LOAD per RAM\n"
             "    region) named SYSTEM-YYYYMMDD-hhmmss.gcore into its `dump`\n"
             "    directory (default: qvm's working directory), or pipes it to\n"
             "    `dump \"|CMD\"`; the guest continues. Prints the file written.\n"
             "    Open it with `gdb -c FILE`.\n"},
    {"gdb", "NAME\n    qvmctl gdb - start the gdb stub of a running VM\n\nSYNOPSIS\n"
            "    qvmctl gdb NAME [tcp:[HOST:]PORT | PATH]\n\nDESCRIPTION\n"
            "    Starts qvm's gdb remote stub (as `set gdb` would have) and prints\n"
            "    where a debugger connects: `gdb -ex 'target remote ADDRESS'`.\n"
            "    Without an endpoint: a Unix socket (mode 0600) named NAME.gdb next\n"
            "    to /dev/qvm/NAME, or the endpoint the stub already listens on.\n"
            "    TCP is bound to 127.0.0.1 unless HOST is given; a relative PATH is\n"
            "    taken from the current directory. The guest keeps running until\n"
            "    a debugger attaches. Asking again prints the same address; asking\n"
            "    for another endpoint once the stub listens is refused (exit 1).\n"},
    {"stats", "NAME\n    qvmctl stats - exit statistics\n\nSYNOPSIS\n"
              "    qvmctl stats [--json] [--watch [SECONDS]] NAME\n\nDESCRIPTION\n"
              "    Exits per reason (and per vCPU), and per device region, with\n"
              "    rates. --watch redraws the table every SECONDS (default 1) with\n"
              "    rates over the last interval, until interrupted.\n"},
};

int Usage(const std::string& cmd) {
  auto it = kHelp.find(cmd);
  fprintf(stderr, "%s", it != kHelp.end() ? it->second.c_str() : kMainHelp);
  return kUsage;
}

int Report(const std::string& what, const absl::Status& st) {
  fprintf(stderr, "qvmctl: %s: %s\n", what.c_str(), std::string(st.message()).c_str());
  int e = ErrnoOf(st);
  if (e == ENOENT || e == ECONNREFUSED) return kNotRunning;
  if (e == EACCES || e == EPERM) return kDenied;
  return kFail;
}

bool IsSocket(const std::string& p) {
  struct stat st;
  return lstat(p.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

// The socket of NAME, or "" (then *tried lists the places looked at).
std::string Locate(const std::string& name, std::string* tried) {
  if (name.find('/') != std::string::npos) return name;
  for (const auto& d : qvm::ResmgrSearchDirs()) {
    std::string p = d + "/" + name;
    if (IsSocket(p)) return p;
    absl::StrAppend(tried, tried->empty() ? "" : ", ", d);
  }
  return "";
}

absl::StatusOr<std::unique_ptr<Client>> Open(const std::string& name,
                                             const std::string& node, uint32_t flags) {
  std::string tried;
  std::string path = Locate(name, &tried);
  if (path.empty())
    return qvm::resmgr::ErrnoStatus(
        ENOENT, absl::StrCat("not running (no socket named `", name, "` in ", tried, ")"));
  return Client::open(path, node, flags, absl::Seconds(30));
}

// Value of "key: value" in a status text.
std::string Field(const std::string& text, const std::string& key) {
  size_t p = text.find(key + ": ");
  if (p == std::string::npos || (p && text[p - 1] != '\n')) return "";
  size_t s = p + key.size() + 2, e = text.find('\n', s);
  return text.substr(s, e == std::string::npos ? std::string::npos : e - s);
}

int CmdList() {
  printf("%-20s %-8s %-8s %s\n", "NAME", "STATE", "PID", "SOCKET");
  std::vector<std::string> seen;
  for (const auto& d : qvm::ResmgrSearchDirs()) {
    DIR* dir = opendir(d.c_str());
    if (!dir) continue;
    std::vector<std::string> names;
    while (dirent* e = readdir(dir)) {
      std::string n = e->d_name;
      if (n != "." && n != ".." && IsSocket(d + "/" + n)) names.push_back(n);
    }
    closedir(dir);
    // A qvm's gdb socket (NAME.gdb beside NAME) is not a qvm: opening it
    // would attach a debugger.
    std::string sfx = qvm::ctl::kGdbSuffix;
    std::vector<std::string> all = names;
    names.clear();
    for (const auto& n : all) {
      bool gdb = n.size() > sfx.size() && n.compare(n.size() - sfx.size(), sfx.size(), sfx) == 0 &&
                 std::find(all.begin(), all.end(), n.substr(0, n.size() - sfx.size())) != all.end();
      if (!gdb) names.push_back(n);
    }
    std::sort(names.begin(), names.end());
    for (const auto& n : names) {
      std::string p = d + "/" + n;
      if (std::find(seen.begin(), seen.end(), p) != seen.end()) continue;
      seen.push_back(p);
      std::string state = "?", pid = "-";
      auto c = Client::open(p, "", O_RDONLY, absl::Seconds(5));
      if (!c.ok()) {
        int e = ErrnoOf(c.status());
        state = e == ECONNREFUSED ? "stale" : e == EACCES ? "denied" : "error";
      } else {
        auto s = (*c)->devctl(qvm::ctl::kStatus);
        if (s.ok()) {
          state = Field(*s, "state");
          pid = Field(*s, "pid");
        }
      }
      printf("%-20s %-8s %-8s %s\n", n.c_str(), state.c_str(), pid.c_str(), p.c_str());
    }
  }
  return kOk;
}

int Simple(const std::string& name, uint32_t cmd, const std::string& verb) {
  auto c = Open(name, "", O_RDWR);
  if (!c.ok()) return Report(name, c.status());
  auto r = (*c)->devctl(cmd);
  if (!r.ok()) return Report(absl::StrCat(name, ": ", verb), r.status());
  if (!r->empty()) printf("%s%s", r->c_str(), r->back() == '\n' ? "" : "\n");
  return kOk;
}

int CmdGdb(const std::string& name, std::string endpoint) {
  if (!endpoint.empty() && endpoint.rfind("tcp:", 0) != 0 && endpoint[0] != '/') {
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd)) {
      fprintf(stderr, "qvmctl: getcwd: %s\n", strerror(errno));
      return kFail;
    }
    endpoint = absl::StrCat(cwd, "/", endpoint);
  }
  auto c = Open(name, "", O_RDWR);
  if (!c.ok()) return Report(name, c.status());
  auto r = (*c)->devctl(qvm::ctl::kGdb, endpoint);
  if (!r.ok()) {
    int e = ErrnoOf(r.status());
    if (e == EEXIST) {
      auto now = (*c)->devctl(qvm::ctl::kGdb, "?");
      std::string at = now.ok() ? *now : "";
      while (!at.empty() && at.back() == '\n') at.pop_back();
      fprintf(stderr, "qvmctl: %s: gdb: the stub already listens on %s, not %s (one endpoint per qvm)\n",
              name.c_str(), at.empty() ? "another endpoint" : at.c_str(), endpoint.c_str());
      return kFail;
    }
    if (e == EADDRINUSE) {
      fprintf(stderr, "qvmctl: %s: gdb: %s is in use (something else listens on it)\n",
              name.c_str(), endpoint.empty() ? "the default socket" : endpoint.c_str());
      return kFail;
    }
    if (e == EINVAL) {
      fprintf(stderr, "qvmctl: %s: gdb: bad endpoint `%s` (tcp:[HOST:]PORT or a socket path)\n",
              name.c_str(), endpoint.c_str());
      return kUsage;
    }
    return Report(absl::StrCat(name, ": gdb"), r.status());
  }
  printf("%s%s", r->c_str(), !r->empty() && r->back() == '\n' ? "" : "\n");
  return kOk;
}

int CmdStatus(const std::string& name, bool json) {
  auto c = Open(name, "", O_RDONLY);
  if (!c.ok()) return Report(name, c.status());
  auto r = (*c)->devctl(qvm::ctl::kStatus, json ? "json" : "");
  if (!r.ok()) return Report(name + ": status", r.status());
  fputs(r->c_str(), stdout);
  return kOk;
}

int CmdEnv(const std::string& name) {
  auto c = Open(name, qvm::ctl::kEnvName, O_RDONLY);
  if (!c.ok()) return Report(name, c.status());
  for (int i = 0; i < 1024; i++) {  // bounded: 64 MiB of JSON
    auto r = (*c)->read(qvm::resmgr::proto::kMaxData);
    if (!r.ok()) return Report(name + ": env", r.status());
    if (r->empty()) break;
    fwrite(r->data(), 1, r->size(), stdout);
  }
  return kOk;
}

int CmdStop(const std::string& name, double wait_s) {
  std::string tried;
  std::string path = Locate(name, &tried);
  int rc = Simple(name, qvm::ctl::kPowerButton, "stop");
  if (rc != kOk || wait_s <= 0) return rc;
  absl::Time deadline = absl::Now() + absl::Seconds(wait_s);
  while (absl::Now() < deadline) {
    auto c = Client::open(path, "", O_RDONLY, absl::Seconds(1));
    if (!c.ok()) return kOk;  // gone (no socket, or stale)
    (void)(*c)->close();
    usleep(50000);
  }
  fprintf(stderr, "qvmctl: %s: still running after %.1f s\n", name.c_str(), wait_s);
  return kFail;
}

int CmdStats(const std::string& name, bool json, double watch) {
  auto c = Open(name, "", O_RDONLY);
  if (!c.ok()) return Report(name, c.status());
  for (;;) {
    auto r = (*c)->devctl(qvm::ctl::kStats, json ? "json" : "");
    if (!r.ok()) return Report(name + ": stats", r.status());
    if (watch > 0 && !json && isatty(1)) fputs("\033[H\033[2J", stdout);
    fputs(r->c_str(), stdout);
    fflush(stdout);
    if (watch <= 0) return kOk;
    usleep(useconds_t(watch * 1e6));
  }
}

struct termios g_saved;
bool g_raw = false;
void RestoreTerminal() {
  if (g_raw) tcsetattr(0, TCSANOW, &g_saved);
  g_raw = false;
}

int CmdConsole(const std::string& name, const std::string& dev, double timeout) {
  auto co = Open(name, dev, O_RDWR | O_NONBLOCK);
  if (!co.ok()) return Report(absl::StrCat(name, "/", dev), co.status());
  Client& c = **co;
  bool tty = isatty(0);
  if (tty) {
    fprintf(stderr, "Connected to %s (%s); escape character is ^]\r\n", name.c_str(),
            dev.c_str());
    if (tcgetattr(0, &g_saved) == 0) {
      struct termios raw = g_saved;
      cfmakeraw(&raw);
      if (tcsetattr(0, TCSANOW, &raw) == 0) {
        g_raw = true;
        atexit(RestoreTerminal);
      }
    }
  }
  bool in_open = true;
  absl::Time deadline = absl::InfiniteFuture();
  int rc = kOk;
  auto drain = [&]() -> bool {
    for (int i = 0; i < 64; i++) {
      auto r = c.read(qvm::resmgr::proto::kMaxData);
      if (!r.ok()) {
        if (ErrnoOf(r.status()) == EAGAIN) return true;
        return false;
      }
      if (r->empty()) return true;
      fwrite(r->data(), 1, r->size(), stdout);
      fflush(stdout);
    }
    return true;
  };
  for (;;) {
    auto ready = c.notify(qvm::resmgr::proto::kNotifyIn, 1);
    if (!ready.ok()) break;  // qvm went away
    if (*ready & qvm::resmgr::proto::kNotifyIn) {
      if (!drain()) break;
      continue;
    }
    if (absl::Now() >= deadline) break;
    struct pollfd p[2] = {{c.fd(), POLLIN, 0}, {in_open ? 0 : -1, POLLIN, 0}};
    int ms = 1000;
    if (deadline != absl::InfiniteFuture())
      ms = int(std::max<int64_t>(1, absl::ToInt64Milliseconds(deadline - absl::Now())));
    if (poll(p, 2, std::min(ms, 1000)) < 0 && errno != EINTR) break;
    if (p[0].revents) {
      auto ev = c.wait_notify(absl::ZeroDuration());
      if (!ev.ok() && ErrnoOf(ev.status()) != ETIMEDOUT) break;
      if (!drain()) break;
    }
    if (in_open && p[1].revents) {
      char buf[4096];
      ssize_t n = read(0, buf, sizeof buf);
      if (n <= 0) {
        in_open = false;
        if (timeout > 0) deadline = absl::Now() + absl::Seconds(timeout);
        continue;
      }
      if (tty) {
        void* esc = memchr(buf, 0x1d, size_t(n));
        if (esc) {
          n = static_cast<char*>(esc) - buf;
          in_open = false;
          deadline = absl::Now();
        }
      }
      std::string_view data(buf, size_t(n));
      for (int tries = 0; !data.empty() && tries < 500; tries++) {
        auto w = c.write(data);
        if (!w.ok()) {
          if (ErrnoOf(w.status()) != EAGAIN) {
            rc = Report(name + ": console input", w.status());
            break;
          }
          usleep(10000);
          continue;
        }
        data.remove_prefix(*w);
      }
    }
  }
  RestoreTerminal();
  if (tty) fprintf(stderr, "\nDisconnected from %s\n", name.c_str());
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  std::vector<std::string> a(argv + 1, argv + argc);
  if (a.empty()) return Usage("");
  std::string cmd = a[0];
  if (cmd == "--help" || cmd == "-h") {
    printf("%s", kMainHelp);
    return kOk;
  }
  if (cmd == "--version") {
    printf("qvmctl %s\n", qvm::ctl::kQvmVersion);
    return kOk;
  }
  if (cmd == "help") {
    auto it = a.size() > 1 ? kHelp.find(a[1]) : kHelp.end();
    printf("%s", it != kHelp.end() ? it->second.c_str() : kMainHelp);
    return kOk;
  }
  if (!kHelp.count(cmd)) {
    fprintf(stderr, "qvmctl: unknown command `%s` (qvmctl --help)\n", cmd.c_str());
    return kUsage;
  }
  bool json = false;
  double watch = 0, timeout = 0, wait_s = 0;
  std::string dev = "ser8250", name, endpoint;
  for (size_t i = 1; i < a.size(); i++) {
    const std::string& o = a[i];
    auto num = [&](double* out, double dflt) -> bool {
      if (i + 1 < a.size()) {
        char* end;
        double v = strtod(a[i + 1].c_str(), &end);
        if (*end == 0 && v > 0) {
          *out = v;
          i++;
          return true;
        }
      }
      *out = dflt;
      return dflt > 0;
    };
    if (o == "--help" || o == "-h") {
      printf("%s", kHelp.at(cmd).c_str());
      return kOk;
    } else if (o == "--json" && (cmd == "status" || cmd == "stats")) {
      json = true;
    } else if (o == "--watch" && cmd == "stats") {
      num(&watch, 1);
    } else if (o == "--timeout" && cmd == "console") {
      if (!num(&timeout, 0)) return Usage(cmd);
    } else if (o == "--wait" && cmd == "stop") {
      if (!num(&wait_s, 0)) return Usage(cmd);
    } else if (o == "--device" && cmd == "console" && i + 1 < a.size()) {
      dev = a[++i];
    } else if (!o.empty() && o[0] == '-') {
      fprintf(stderr, "qvmctl %s: unknown option `%s`\n", cmd.c_str(), o.c_str());
      return Usage(cmd);
    } else if (name.empty()) {
      name = o;
    } else if (cmd == "gdb" && endpoint.empty()) {
      endpoint = o;
    } else {
      fprintf(stderr, "qvmctl %s: unexpected argument `%s`\n", cmd.c_str(), o.c_str());
      return Usage(cmd);
    }
  }
  if (cmd == "list") return name.empty() ? CmdList() : Usage(cmd);
  if (name.empty()) {
    fprintf(stderr, "qvmctl %s: missing NAME\n", cmd.c_str());
    return Usage(cmd);
  }
  if (cmd == "status") return CmdStatus(name, json);
  if (cmd == "env") return CmdEnv(name);
  if (cmd == "console") return CmdConsole(name, dev, timeout);
  if (cmd == "pause") return Simple(name, qvm::ctl::kPause, "pause");
  if (cmd == "resume") return Simple(name, qvm::ctl::kResume, "resume");
  if (cmd == "reset") return Simple(name, qvm::ctl::kReset, "reset");
  if (cmd == "stop") return CmdStop(name, wait_s);
  if (cmd == "kill") return Simple(name, qvm::ctl::kPowerCut, "kill");
  if (cmd == "dump") return Simple(name, qvm::ctl::kDump, "dump");
  if (cmd == "stats") return CmdStats(name, json, watch);
  if (cmd == "gdb") return CmdGdb(name, endpoint);
  return Usage("");
}
