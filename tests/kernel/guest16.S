/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The kernel tests' guest: 16-bit real mode, copied by the host into the
 * *shared* part of a memslot (the host cannot write private gmem), working
 * on the *private* part, DS:0 = GPA 0x10000. Only port I/O leaves it: on
 * a TCG-emulated SVM without nrip-save, KVM decodes other exiting
 * instructions from the shared view, which must not be needed.
 *
 * In:  EAX = op, EBX = seed, CX = words.
 *   1  write seed, seed + K, seed + 2K ... then OUT 0x10
 *   2  EAX = sum of the words, EDX = how many are non-zero, OUT 0x10
 *   3  op 1 for ever, OUT 0x11 after each pass
 */
	.code16
	.section .rodata
	.globl kt_guest_code, kt_guest_code_end
kt_guest_code:
	movw	$0x1000, %si
	movw	%si, %ds
	xorw	%di, %di
	movw	%cx, %bp
	cmpl	$1, %eax
	je	.Lwrite
	cmpl	$2, %eax
	je	.Lsum
.Lforever:
	xorw	%di, %di
	movw	%bp, %cx
1:	movl	%ebx, (%di)
	addl	$0x9e3779b9, %ebx
	addw	$4, %di
	decw	%cx
	jnz	1b
	outb	%al, $0x11
	jmp	.Lforever
.Lwrite:
	movl	%ebx, (%di)
	addl	$0x9e3779b9, %ebx
	addw	$4, %di
	decw	%cx
	jnz	.Lwrite
2:	outb	%al, $0x10
	jmp	2b
.Lsum:
	xorl	%eax, %eax
	xorl	%edx, %edx
3:	movl	(%di), %esi
	addl	%esi, %eax
	testl	%esi, %esi
	jz	4f
	incl	%edx
4:	addw	$4, %di
	decw	%cx
	jnz	3b
5:	outb	%al, $0x10
	jmp	5b
kt_guest_code_end:
	.section .note.GNU-stack, "", @progbits
