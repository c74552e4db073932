/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The guest's memory layout, shared by guest.S and the VMM. All addresses
 * are guest-physical and identity-mapped by the page tables the VMM
 * writes. Everything from FILL_START to the end of memory is the pattern
 * the guest fills once and then checksums forever.
 */
#ifndef REFVMM_GUEST_H
#define REFVMM_GUEST_H

#define MB_COUNTER	0x00	/* counter as kept in memory */
#define MB_REF		0x08	/* checksum computed right after the fill */
#define MB_REP_COUNTER	0x10	/* counter (register) at the last report */
#define MB_REP_SUM	0x18	/* checksum at the last report */
#define MB_OK		0x20	/* 1: checksum == reference, counters agree */
#define MB_REPORTS	0x28	/* reports so far */
#define MB_SCAN_NONZERO	0x30	/* scan: words found not zero */
#define MB_SCAN_WORDS	0x38	/* scan: words looked at */
/*
 * vCPU N > 0 (an AP) counts in its own mailbox at AP_MB + N * AP_MB_SIZE:
 * the counter in memory, and at its last report its register counter,
 * its verdict (1: they agree) and how many reports it made.
 */
#define AP_MB		0x100
#define AP_MB_SIZE	0x20
#define AP_COUNTER	0x00
#define AP_REP_COUNTER	0x08
#define AP_OK		0x10
#define AP_REPORTS	0x18

#define PML4_GPA	0x1000
#define PDPT_GPA	0x2000
#define PD_GPA		0x3000	/* one page per GiB, at most MAX_GIB */
#define MAX_GIB		16
#define CODE_GPA	0x20000
#define STACK_TOP	0x40000
#define FILL_START	0x100000

/*
 * KVM keeps the local APIC's page at 0xfee00000 as MMIO whatever the
 * memslots say, as on a real PC: the guest leaves that 2 MiB alone.
 */
#define HOLE_START	0xfee00000
#define HOLE_SIZE	0x200000
/* A split layout's RAM above the hole starts here, as on a PC. */
#define HIGH_START	0x100000000ULL

#define REPORT_PORT	0x10
#define REPORT_COUNT	1	/* al: counter and checksum in the mailbox */
#define REPORT_SCAN	2	/* al: scan result in the mailbox */
#define REPORT_AP	3	/* al: an AP's report in its mailbox */
/* Report every 2^16 counter steps. */
#define REPORT_MASK	0xffff

#endif
