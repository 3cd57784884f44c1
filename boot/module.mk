# boot/: x86_64 kernel loaders, e820 and ACPI tables (see boot/README.md).
CORE_SRCS += boot/image_file.cc boot/elf.cc boot/x86.cc boot/bsd.cc boot/aml.cc boot/acpi.cc
# arm64 Image/ELF/raw loading and the FDT (libfdt); used by arch/aarch64.
CORE_SRCS += boot/arm64.cc boot/fdt.cc
