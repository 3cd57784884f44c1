# boot/: x86_64 kernel loaders, e820 and ACPI tables (see boot/README.md).
CORE_SRCS += boot/image_file.cc boot/elf.cc boot/x86.cc boot/aml.cc boot/acpi.cc
