// A small AML (ACPI Machine Language) encoder: enough to write a DSDT that
// describes fixed platform devices (names, EISA IDs, resource templates,
// packages, trivial methods). Every function returns the encoded bytes of one
// term; callers concatenate them. Names are validated by ValidNamePath().
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qvm::boot::aml {

using Bytes = std::vector<uint8_t>;

void Append(Bytes& to, const Bytes& from);

// A name path: optional leading '\' then one or more 1-4 character segments
// separated by '.', each [A-Z_][A-Z0-9_]*; short segments are padded with
// '_' ("_SB" -> "_SB_").
bool ValidNamePath(std::string_view path);
// Encoded NameString (RootChar/DualNamePrefix/MultiNamePrefix as needed).
// Precondition: ValidNamePath(path); invalid characters are replaced by '_'.
Bytes NameString(std::string_view path);

// PkgLength encoding of a package whose content is `content_len` bytes (the
// encoding counts itself). Returns empty when content_len >= 2^28 - 4.
Bytes PkgLength(size_t content_len);

Bytes Integer(uint64_t v);          // ZeroOp/OneOp/Byte/Word/DWord/QWordConst
Bytes String(std::string_view s);   // StringPrefix ... NUL
// "PNP0501" -> the 32-bit compressed EISA ID; nullopt when not of the form
// three letters A-Z and four hex digits.
std::optional<uint32_t> EisaId(std::string_view id);
// _HID/_CID value: EISA ID integer when the id has that form, else a string.
Bytes HardwareId(std::string_view id);

Bytes Name(std::string_view name, const Bytes& object);           // NameOp
Bytes Scope(std::string_view name, const Bytes& body);            // ScopeOp
Bytes Device(std::string_view name, const Bytes& body);           // DeviceOp
Bytes Method(std::string_view name, uint8_t nargs, bool serialized,
             const Bytes& body);                                  // MethodOp
Bytes Return(const Bytes& value);                                 // ReturnOp
Bytes Package(const std::vector<Bytes>& elements);                // PackageOp
Bytes Buffer(const Bytes& data);                                  // BufferOp

// Resource template (the byte list of a _CRS buffer) built item by item.
class ResourceTemplate {
 public:
  // IO(Decode16, base, base, 1, len): a fixed range of `len` (1-255) ports.
  void Io(uint16_t base, uint8_t len);
  // Memory32Fixed(ReadWrite, base, len)
  void Memory32Fixed(uint32_t base, uint32_t len, bool writable = true);
  // IRQNoFlags() {irq}: an ISA IRQ 0-15, edge triggered, active high.
  void IrqNoFlags(uint8_t irq);
  // Interrupt(ResourceConsumer, level/edge, active high/low, exclusive) {gsi}
  void Interrupt(uint32_t gsi, bool level, bool active_low);
  // WordBusNumber(ResourceProducer, MinFixed, MaxFixed, PosDecode, ...)
  void WordBusNumber(uint16_t min, uint16_t max);
  // WordIO(ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange, ...)
  void WordIo(uint16_t min, uint16_t max);
  // DWordMemory(ResourceProducer, PosDecode, MinFixed, MaxFixed,
  //             NonCacheable, ReadWrite, ...)
  void DWordMemory(uint32_t min, uint32_t max);
  // QWordMemory(... same flags ...)
  void QWordMemory(uint64_t min, uint64_t max);

  // The descriptors followed by an End Tag (checksum 0).
  Bytes Finish() const;

 private:
  Bytes b_;
};

}  // namespace qvm::boot::aml
