/* acpi-pci: as acpi-nopci, with a PCI device (virtio-entropy) configured:
 * the DSDT now describes the PCI host bridge (PNP0A08 with _CID PNP0A03)
 * and every checksum still holds. */
        .include "common.inc"
        GUEST_NAME "acpi-pci"
        .set WANT_PCI, 1
        .include "acpi-tables.inc"
