/* acpi-nopci: the generated ACPI tables of a PC without PCI devices. Proves:
 * the RSDP is found by the spec's scan of 0xE0000-0xFFFFF; the RSDP
 * (20-byte and extended), XSDT, FADT, DSDT (through X_DSDT) and MADT
 * checksums are 0; the MADT lists one enabled LAPIC, ID 0; and the DSDT
 * has no PCI host bridge (no PNP0A08/PNP0A03) when no PCI device is
 * configured (acpi-pci proves the opposite). */
        .include "common.inc"
        GUEST_NAME "acpi-nopci"
        .set WANT_PCI, 0
        .include "acpi-tables.inc"
