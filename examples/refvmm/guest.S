/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The reference guest, 64-bit long mode, position-independent: the VMM
 * copies the bytes between guest_code_start and guest_code_end to
 * CODE_GPA. Entry: rdi = end of guest-physical memory, rsi = seed,
 * rdx = stride, r8 = 1 to scan the memory first, r9 = the vCPU's number,
 * [r10, r11) = the hole no RAM is behind (the APIC's page; with RAM
 * split around the PCI hole, from the end of low RAM up to 4 GiB).
 *
 * vCPU 0 does what follows. Every other vCPU counts in a register and in
 * its own mailbox (AP_MB) and reports with al = REPORT_AP whether the two
 * agree: a VMM that lost or mixed up a vCPU's registers across an
 * upgrade makes that vCPU say so.
 *
 * The scan is what a new VM does with memory it was given by a rebind:
 * before writing anything it counts the words, one every stride bytes
 * from FILL_START up, that are not zero, and reports the count through
 * REPORT_PORT with al = 2. Whatever another guest left there, this guest
 * would see; migrd's rule says it must see nothing.
 *
 * It fills its memory with a pattern derived from the seed, one word
 * every stride bytes (8 for every word; a page for every page, which is
 * what makes it usable where KVM emulates each instruction), records the
 * checksum, then counts forever in a register (rbx) and in memory
 * (MB_COUNTER). Every REPORT_MASK+1 steps it recomputes the checksum and
 * reports through port REPORT_PORT, with its own verdict in MB_OK: the
 * checksum is the reference one and both counters agree. A VMM that lost
 * or stale-copied memory, or restored registers that do not belong to
 * this memory, makes the guest itself say so.
 */
#include "guest.h"

	.section .rodata.guest, "a"
	.intel_syntax noprefix
	.code64
	.globl guest_code_start, guest_code_end

guest_code_start:
	test	r9, r9
	jnz	ap_main
	mov	r15, rdi		/* end of memory */
	mov	r14, rsi		/* seed */
	mov	r12, rdx		/* stride */
	movabs	r13, 0xbf58476d1ce4e5b9
	test	r8, r8
	jz	fill_start
	call	scan
fill_start:
	mov	rcx, FILL_START
fill:
	call	skip_hole
	cmp	rcx, r15
	jae	filled
	mov	rax, rcx
	xor	rax, r14
	imul	rax, r13
	mov	rdx, rax
	shr	rdx, 29
	xor	rax, rdx
	mov	[rcx], rax
	add	rcx, r12
	jmp	fill
filled:

	call	checksum
	mov	[MB_REF], rax
	xor	ebx, ebx
	mov	qword ptr [MB_COUNTER], 0

count:
	inc	rbx
	inc	qword ptr [MB_COUNTER]
	test	ebx, REPORT_MASK
	jnz	count

	call	checksum
	mov	[MB_REP_SUM], rax
	mov	[MB_REP_COUNTER], rbx
	xor	edx, edx
	cmp	rax, [MB_REF]
	jne	1f
	cmp	rbx, [MB_COUNTER]
	jne	1f
	mov	edx, 1
1:	mov	[MB_OK], rdx
	inc	qword ptr [MB_REPORTS]
	mov	al, REPORT_COUNT
	out	REPORT_PORT, al
	jmp	count

/* rax = order-sensitive checksum of every stride-th word up to r15 */
checksum:
	xor	eax, eax
	mov	rcx, FILL_START
2:	call	skip_hole
	cmp	rcx, r15
	jae	3f
	rol	rax, 1
	xor	rax, [rcx]
	add	rcx, r12
	jmp	2b
3:	ret

/* Count the words that are not zero; report as MB_SCAN_*, al = 2. */
scan:
	xor	eax, eax
	xor	r9d, r9d
	mov	rcx, FILL_START
5:	call	skip_hole
	cmp	rcx, r15
	jae	6f
	inc	r9
	cmp	qword ptr [rcx], 0
	je	7f
	inc	rax
7:	add	rcx, r12
	jmp	5b
6:	mov	[MB_SCAN_NONZERO], rax
	mov	[MB_SCAN_WORDS], r9
	mov	al, REPORT_SCAN
	out	REPORT_PORT, al
	ret

/* rcx inside the hole [r10, r11) jumps past it */
skip_hole:
	cmp	rcx, r10
	jb	4f
	cmp	rcx, r11
	jae	4f
	mov	rcx, r11
4:	ret

/* vCPU r9 > 0: count, and report every REPORT_MASK+1 steps. */
ap_main:
	mov	r14, r9
	shl	r14, 5			/* * AP_MB_SIZE */
	add	r14, AP_MB
	xor	ebx, ebx
	mov	qword ptr [r14 + AP_COUNTER], 0
ap_count:
	inc	rbx
	inc	qword ptr [r14 + AP_COUNTER]
	test	ebx, REPORT_MASK
	jnz	ap_count
	mov	[r14 + AP_REP_COUNTER], rbx
	xor	edx, edx
	cmp	rbx, [r14 + AP_COUNTER]
	jne	8f
	mov	edx, 1
8:	mov	[r14 + AP_OK], rdx
	inc	qword ptr [r14 + AP_REPORTS]
	mov	al, REPORT_AP
	out	REPORT_PORT, al
	jmp	ap_count

guest_code_end:
	.section .note.GNU-stack, "", @progbits
