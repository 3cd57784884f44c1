// The typed configuration model of a qvm VM and its parser.
//
// Input is a token stream from the command line and `@file`s. Every parsed
// item remembers where it came from (file, line, column) so that later
// checks (for example a vdev rejecting one of its options once its plug-in
// is loaded) report `FILE:LINE:COL: message` like the parser does.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace qvm {

struct SourceLoc {
  std::string file;  // "<command line>" for argv tokens
  int line = 0;      // 1-based; for argv the argument index
  int col = 0;       // 1-based
  std::string str() const;  // "FILE:LINE:COL"
};

// A configuration error: "FILE:LINE:COL: message". qvm exits with 65.
absl::Status ConfigError(const SourceLoc& where, const std::string& message);

enum class Space { Mem, Io, Pci };

struct LocSpec {
  Space space = Space::Mem;
  // Mem/Io: the address or port. Pci by address: bus/dev/fn; by id: vid/did.
  uint64_t addr = 0;
  bool pci_by_id = false;
  uint8_t bus = 0, dev = 0, fn = 0;
  uint16_t vid = 0, did = 0;
  // `pass loc pci:VID/DID/INDEX`: the INDEX-th such host device (from 0);
  // `pass loc pci:BUS:DEV.FN=pci:VID/DID`: the ids that host function must
  // have (pci_check_id). Only `pass` takes either.
  uint8_t pci_index = 0;
  bool pci_check_id = false;
  // `pass loc GUEST=HOST`: the host side, same space as the guest side.
  // Mem: any 64-bit address; Io: 0..0xffff. PCI: `=pci:VID/DID` above.
  std::optional<uint64_t> host;
  // `pass loc mem:...=file:PATH` (a host file, PATH resolved like a load
  // path) or `=shm:NAME` (a POSIX shared-memory object, shm_open(3)):
  // host_path is PATH or NAME, `host` stays empty.
  enum class HostKind { Phys, File, Shm };
  HostKind host_kind = HostKind::Phys;
  std::string host_path;
  // `loc ADDR` without a space: QNX's "the device's default space". The
  // parser reads it as Mem; a vdev instance moves it to Io when its factory
  // may live in I/O space (QVM_VDEVF_SPACE_IO), as QNX's port devices
  // (8259, ser8250, ...) default to io:.
  bool bare = false;
  // `pass loc mem:ADDR,SIZE,PERMS`, `reserve loc mem:ADDR,SIZE` (QNX): the
  // size and the access letters.
  std::optional<uint64_t> size;
  std::string perms;
  SourceLoc where;  // of the SPEC token
};

struct IntrSpec {
  bool apic = false;       // `intr apic`
  std::string controller;  // `intr NAME:LINE`
  uint32_t line = 0;
  std::optional<uint32_t> host_vector;  // `pass ... intr GUEST=HOSTVEC`
  SourceLoc where;  // of the SPEC token
};

struct MemSpec {
  bool rom = false;
  std::optional<uint64_t> start;  // absent: after the highest RAM/ROM so far
  uint64_t size = 0;   // never 0; start + size never wraps
  SourceLoc where;     // of the `ram`/`rom` keyword
  SourceLoc value_where;  // of the [START,]LEN token
};

struct CpuSpec {
  std::optional<int> priority;  // `sched PRIO[r|f|o]`
  std::string partition;        // `partition NAME` (QNX APS; noted, not used)
  char policy = 'o';            // r = SCHED_RR, f = SCHED_FIFO, o = other
  std::vector<int> runmask;     // host CPU numbers; empty = any
  SourceLoc where;              // of the `cpu` keyword
  SourceLoc sched_where;        // of `sched` (when given)
  SourceLoc runmask_where;      // of `runmask` (when given)
  SourceLoc partition_where;    // of `partition` (when given)
};

// A device-specific option, validated against the plug-in's option list
// when the plug-in is loaded. An option takes one argument unless the
// parser's VdevOptionShapes says it takes none (then `value` is empty and
// `value_where` is the option's own position).
struct VdevOption {
  std::string name;
  std::string value;
  SourceLoc where;       // of the option name
  SourceLoc value_where; // of the argument
};

// How a device's own option is written: whether it takes no argument (a
// flag such as virtio's `legacy`) and whether it may be given more than
// once (each occurrence kept, in order; otherwise a repeated option
// replaces the earlier one, keeping its first position).
struct VdevOptionShape {
  bool no_argument = false;
  bool repeats = false;
};

// What the parser asks about a device's options while it splits a `vdev`
// line; supplied by the caller, who knows the devices (qvm: the plug-ins'
// factories). config.cc knows no device. Without one (or for a type or
// option the caller does not know) an option takes one argument and does
// not repeat.
class VdevOptionShapes {
 public:
  virtual ~VdevOptionShapes() = default;
  virtual VdevOptionShape shape(const std::string& type,
                                const std::string& option) = 0;
};

struct VdevSpec {
  std::string type;                // `vdev TYPE`
  std::string name;                // `name N` (empty: qvm assigns one)
  std::vector<LocSpec> locs;       // `loc` may repeat (several regions)
  std::vector<IntrSpec> intrs;     // `intr` may repeat
  std::vector<VdevOption> options; // in order; a repeated option replaces
                                   // (keeps its first position) unless its
                                   // shape says it repeats
  SourceLoc where;                 // of the `vdev` keyword
  SourceLoc type_where;            // of TYPE
  SourceLoc name_where;            // of N in `name N` (when given)
};

struct PassSpec {
  std::vector<LocSpec> locs;
  std::vector<IntrSpec> intrs;
  SourceLoc where;
};

struct ReserveSpec {
  std::optional<LocSpec> loc;
  std::optional<uint32_t> intr;
  SourceLoc where;
};

enum class LoadKind { Kernel, Initrd, Data, Fdt, Acpi, Module };
struct LoadSpec {
  LoadKind kind = LoadKind::Kernel;
  std::optional<uint64_t> addr;  // `load ADDR,PATH`, `data load ADDR,PATH`
  std::string path;              // resolved relative to the config file's dir
  SourceLoc where;               // of the keyword (`load`, `initrd`, ...)
  SourceLoc path_where;          // of the token holding PATH
  // `module load PATH ["STRING"]`: the Multiboot module string (a quoted
  // token right after PATH); unset = PATH as written.
  std::optional<std::string> module_string;
};

// `set VAR VALUE`, typed by the variable's declaration (vmm/vars.h: each
// variable is declared once, beside the plan that reads it).
struct SetVar {
  std::string name;
  std::string raw;               // the value as written
  std::optional<bool> boolean;   // booleans (tristate: nullopt = auto)
  std::optional<uint64_t> number;
  std::optional<size_t> choice;  // a choice: the index of the value
  SourceLoc where;        // of VAR
  SourceLoc value_where;  // of VALUE
};

enum class LogLevel { Fatal, Internal, Error, Warn, Info, Debug, Verbose };
struct LoggerSpec {
  std::vector<LogLevel> levels;  // filters
  // "stdout", "stderr", "none", "slog" (the host's system log, vmm/log.h)
  // or a path
  std::string dest;
  SourceLoc where;
};

enum class UnsupportedAction { Ignore, Log, Fault, Terminate };
// `unsupported`: QNX's `unsupported TYPE ACTION` (TYPE instruction |
// reference | register, ACTION abort = Terminate | fail = Fault | ignore),
// one per type, the last of each type winning; and qvm's extension
// `unsupported ACTION` (ignore | log | fault | terminate), one action for
// every type a TYPE does not name.
struct UnsupportedSpec {
  std::optional<UnsupportedAction> action;  // `unsupported ACTION`
  std::optional<UnsupportedAction> instruction, reference, reg;
  SourceLoc where;  // of the last `unsupported`
};

// `user UID[:GID[,GID...]]` (QNX): the user and groups qvm runs as once the
// VM is set up (vmm/privileges.h). Numbers only, as QNX writes them; the
// first GID is the primary group, the others the supplementary groups.
// Without GIDs the primary group is UID's in the password database, read
// when qvm starts (vmm/vm.cc), and there are no supplementary groups.
struct UserSpec {
  uint32_t uid = 0;
  std::vector<uint32_t> gids;
  SourceLoc where, value_where;
};

struct Config {
  std::string system = "qvm";  // `system NAME`
  std::vector<MemSpec> mem;       // ram/rom in order
  std::vector<CpuSpec> cpus;      // empty means one vCPU with defaults
  std::vector<VdevSpec> vdevs;
  std::vector<PassSpec> passes;
  std::vector<ReserveSpec> reserves;
  std::vector<LoadSpec> loads;
  std::optional<std::string> cmdline;
  std::vector<SetVar> sets;       // last value of each name wins
  std::vector<LoggerSpec> loggers;
  std::optional<std::string> dump;  // `dump DIR` or `dump "|CMD"`
  std::optional<UnsupportedSpec> unsupported;
  bool dryrun = false;
  bool debug = false;  // top-level `debug` (QNX: guest debugging; noted)
  // QNX's `tolerance MICROSECONDS` and `safety none|warn` (noted; `safety
  // required` is refused by the parser).
  std::optional<uint64_t> tolerance;
  std::string safety;
  std::optional<UserSpec> user;  // `user` (the last one wins)

  // Where the single-valued options above were given (empty file: absent).
  SourceLoc system_where, cmdline_where, dump_where, dryrun_where,
      debug_where, tolerance_where, safety_where;

  // Convenience lookups of `set` variables (last one wins).
  const SetVar* var(const std::string& name) const;
};

// One input token and where it came from.
struct Token {
  std::string text;
  SourceLoc where;
  bool quoted = false;
};

// Splits a file's text into tokens: whitespace separated, `#` comments to end
// of line, double quotes group (and `\` + newline continues inside quotes).
absl::StatusOr<std::vector<Token>> Tokenize(const std::string& text,
                                            const std::string& file);

// Parses argv-style arguments (each one token; `@file` expands in place,
// recursively, with a depth limit) into a Config. `shapes` (may be null)
// tells how devices' own options are written.
absl::StatusOr<Config> ParseArgs(const std::vector<std::string>& args,
                                 VdevOptionShapes* shapes = nullptr);
// Parses an already tokenized stream (used by tests and fuzzers).
absl::StatusOr<Config> ParseTokens(const std::vector<Token>& tokens,
                                   VdevOptionShapes* shapes = nullptr);

// Numbers: decimal, 0x hex, 0d decimal; sizes take K, M, G suffixes.
// Overflow is an error.
std::optional<uint64_t> ParseNumber(const std::string& s);
std::optional<uint64_t> ParseSize(const std::string& s);

// A path written in the token at `where`, made relative to the directory of
// the file that token came from (argv tokens and absolute paths: unchanged).
// Load paths are already resolved; vdev options (`hostdev FILE`) may use it.
std::string ResolvePath(const SourceLoc& where, const std::string& path);

// `$asinfo_start{NAME}` and `$asinfo_length{NAME}` (QNX: a region of the
// host's system page asinfo) in `text`, replaced by the start and length
// of the host's physical region NAME in 0x hex. Linux's list of named
// physical regions is /proc/iomem (`$QVM_IOMEM` names another file of that
// format): the first entry, at any depth, whose name is NAME or begins
// with "NAME@" (a device-tree node with its unit address). Reading real
// addresses there needs CAP_SYS_ADMIN; without it the kernel shows zeros,
// which is refused. Errors name the token.
absl::StatusOr<std::string> ExpandAsinfo(const std::string& text, const SourceLoc& where);

// Limits of `@file` expansion.
inline constexpr int kMaxIncludeDepth = 16;
inline constexpr size_t kMaxConfigFileBytes = 16u << 20;
inline constexpr size_t kMaxConfigTokens = 1u << 20;

}  // namespace qvm
