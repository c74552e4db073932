/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * memguest: the guest for the QEMU upgrade tests. A multiboot (v1) kernel,
 * loaded by an unmodified QEMU with -kernel (libvirt: <os><kernel>), that
 * proves on its serial port that its RAM and its own state survived every
 * swap of the VMM under it.
 *
 * Command line (multiboot; QEMU puts the kernel's path first):
 *   seed=N     the pattern's seed, decimal or 0x-hex (default 0)
 *   check=MiB  verify only this much RAM from 2 MiB up (default: the RAM
 *              region that holds 2 MiB, up to at most 4 GiB)
 *   stride=B   one 32-bit word every B bytes (default 4096; a power of
 *              two from 4 to 1 MiB); 4 verifies every word
 *   idle=0     never halt: check as fast as the CPU runs (default 1:
 *              one chunk per 10 ms PIT tick, halted in between, so that
 *              16 guests under TCG on two host cores leave room for the
 *              host; a whole 256 MiB region is still verified in 2.5 s)
 *
 * The default stride is a page because the KVM of our machines (PVM) runs
 * a guest like this one an instruction at a time (~1 M/s): one word per
 * page still catches a page that is missing, zeroed or another page's.
 * On hardware KVM or TCG, stride=4 is cheap enough.
 *
 * COM1, 115200 8N1:
 *   memguest: ram 0x00200000-0x10000000 stride=4096
 *   memguest: filled N MiB seed=S
 *   memguest: fill_ms=T tsc_khz=K          (K as timed against the PIT)
 *   memguest: counter=C ok=1 checked=M      about every 200 ms, forever
 *   memguest: BAD addr=0x... got=0x... want=0x...   once, at the first
 *                                           mismatch; ok=0 from then on
 * C counts the report lines from 1 with no gap, so a swap that lost or
 * replayed guest state shows. M is the MiB verified since boot (coverage
 * goes round the region: M >= N means every word was checked once).
 *
 * The word at address a holds fmix32(a ^ seed), MurmurHash3's finalizer,
 * which is a bijection: no two addresses share a value, so a page mapped
 * at the wrong address fails, and only one address in 4 GiB holds zero.
 *
 * 32-bit protected mode as multiboot leaves it, no paging (the RAM we
 * check is below 4 GiB). Interrupts are on only around the idle hlt, and
 * the only one unmasked is the PIT's, whose handler touches nothing but
 * the PIC: nothing but this loop touches the checked RAM, so any change
 * there came from outside.
 */

	.equ	MB_MAGIC, 0x1badb002
	.equ	MB_FLAGS, 0x00000002	/* we want mem_upper and the mmap */
	.equ	MB_BOOTED, 0x2badb002

	/* multiboot info: offsets and flag bits */
	.equ	MBI_FLAGS, 0
	.equ	MBI_MEM_UPPER, 8
	.equ	MBI_CMDLINE, 16
	.equ	MBI_MMAP_LEN, 44
	.equ	MBI_MMAP_ADDR, 48
	.equ	MBI_F_MEM, 0x01
	.equ	MBI_F_CMDLINE, 0x04
	.equ	MBI_F_MMAP, 0x40

	.equ	COM1, 0x3f8
	.equ	CHECK_BASE, 0x200000	/* the image and the boot info are below */
	.equ	CHUNK, 0x100000		/* verified between two clock reads */
	.equ	TOP, 0xfff00000		/* highest MiB boundary below 4 GiB */
	.equ	PIT_50MS, 59659		/* 1193182 Hz * 50 ms */
	.equ	PIT_10MS, 11932
	.equ	PIC1, 0x20
	.equ	PIC2, 0xa0
	.equ	IRQ_BASE, 0x20		/* the PICs' vectors, past the CPU's */

	.code32
	.text

	/* QEMU looks for this in the first 8 KiB of the file. */
	.p2align 2
mb_header:
	.long	MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

	.globl	_start
_start:
	cli
	cld
	mov	%eax, %esi
	mov	%ebx, %ebp
	/*
	 * Multiboot says not to trust GDTR (it points at the loader's table,
	 * in memory we do not own): ours keeps the segments reloadable.
	 */
	lgdt	gdt_desc
	ljmp	$0x08, $1f
1:	mov	$0x10, %eax
	mov	%eax, %ds
	mov	%eax, %es
	mov	%eax, %fs
	mov	%eax, %gs
	mov	%eax, %ss
	mov	$stack_top, %esp

	call	serial_init
	cmp	$MB_BOOTED, %esi
	je	1f
	mov	$s_nomb, %esi
	jmp	die
1:	call	parse_cmdline
	call	find_ram
	call	calibrate

	mov	$s_ram, %esi
	call	puts
	mov	$CHECK_BASE, %eax
	call	put_hex
	mov	$'-', %al
	call	putc
	mov	region_end, %eax
	call	put_hex
	mov	$s_stride, %esi
	call	puts
	mov	stride, %eax
	call	put_dec32
	call	newline

	rdtsc
	mov	%eax, t0
	mov	%edx, t0 + 4
	call	fill
	mov	$s_filled, %esi
	call	puts
	mov	region_end, %eax
	sub	$CHECK_BASE, %eax
	shr	$20, %eax
	call	put_dec32
	mov	$s_seed, %esi
	call	puts
	mov	seed, %eax
	call	put_dec32
	call	newline

	/* fill_ms = ticks / (ticks per 50 ms / 50) */
	rdtsc
	sub	t0, %eax
	sbb	t0 + 4, %edx
	push	%eax
	push	%edx
	mov	tsc_50ms, %eax
	xor	%edx, %edx
	mov	$50, %ecx
	div	%ecx
	mov	%eax, %edi		/* ticks per ms: the TSC's kHz */
	lea	1(%eax), %ecx		/* never 0, whatever the clock said */
	pop	%edx
	pop	%eax
	call	div64
	mov	$s_fillms, %esi
	call	puts
	call	put_dec64
	mov	$s_tsckhz, %esi
	call	puts
	mov	%edi, %eax
	call	put_dec32
	call	newline

	cmpb	$0, idle
	je	1f
	call	idle_init
1:	movb	$1, ok
	movl	$CHECK_BASE, cursor
	jmp	main_loop

/*
 * The report period comes from the TSC, not from a fixed amount of work,
 * so a line comes out about every 200 ms however fast the guest runs.
 */
main_loop:
	rdtsc
	add	interval, %eax
	adc	interval + 4, %edx
	mov	%eax, deadline
	mov	%edx, deadline + 4
1:	mov	cursor, %edi
	cmp	region_end, %edi
	jae	2f			/* nothing to check (check=0) */
	lea	CHUNK(%edi), %esi
	call	verify
	cmp	region_end, %esi
	jb	3f
	mov	$CHECK_BASE, %esi
3:	mov	%esi, cursor
	addl	$1, checked
	adcl	$0, checked + 4
2:	cmpb	$0, idle
	je	5f
	sti			/* no interrupt before the hlt: sti's shadow */
	hlt
	cli
5:	rdtsc
	cmp	deadline + 4, %edx
	jb	1b
	ja	4f
	cmp	deadline, %eax
	jb	1b
4:	addl	$1, counter
	adcl	$0, counter + 4
	mov	$s_counter, %esi
	call	puts
	mov	counter, %eax
	mov	counter + 4, %edx
	call	put_dec64
	mov	$s_ok, %esi
	call	puts
	mov	ok, %al
	add	$'0', %al
	call	putc
	mov	$s_checked, %esi
	call	puts
	mov	checked, %eax
	mov	checked + 4, %edx
	call	put_dec64
	call	newline
	jmp	main_loop

/* The pattern of the word at %edi, into %eax; %ebx = seed; %edx clobbered. */
.macro PATTERN
	mov	%edi, %eax
	xor	%ebx, %eax
	mov	%eax, %edx
	shr	$16, %edx
	xor	%edx, %eax
	imul	$0x85ebca6b, %eax, %eax
	mov	%eax, %edx
	shr	$13, %edx
	xor	%edx, %eax
	imul	$0xc2b2ae35, %eax, %eax
	mov	%eax, %edx
	shr	$16, %edx
	xor	%edx, %eax
.endm

fill:
	mov	seed, %ebx
	mov	stride, %ecx
	mov	$CHECK_BASE, %edi
	mov	region_end, %esi
	cmp	%esi, %edi
	jae	2f
1:	PATTERN
	mov	%eax, (%edi)
	add	%ecx, %edi
	cmp	%esi, %edi
	jb	1b
2:	ret

/* Verify [%edi, %esi); keeps %esi. */
verify:
	mov	seed, %ebx
	mov	stride, %ecx
1:	PATTERN
	cmp	(%edi), %eax
	jne	3f
2:	add	%ecx, %edi
	cmp	%esi, %edi
	jb	1b
	ret
3:	call	bad
	jmp	2b

/* A mismatch at %edi, %eax wanted: say so the first time only. */
bad:
	cmpb	$0, ok
	je	1f
	pusha
	movb	$0, ok
	mov	%eax, %ebx
	mov	$s_bad, %esi
	call	puts
	mov	%edi, %eax
	call	put_hex
	mov	$s_got, %esi
	call	puts
	mov	(%edi), %eax
	call	put_hex
	mov	$s_want, %esi
	call	puts
	mov	%ebx, %eax
	call	put_hex
	call	newline
	popa
1:	ret

/* ---- the command line ---- */

parse_cmdline:
	movl	$4096, stride
	movb	$1, idle
	testl	$MBI_F_CMDLINE, MBI_FLAGS(%ebp)
	jz	9f
	mov	MBI_CMDLINE(%ebp), %esi
	mov	$k_seed, %edi
	call	find_arg
	test	%eax, %eax
	jz	1f
	call	parse_num
	mov	%eax, seed
1:	mov	$k_idle, %edi
	call	find_arg
	test	%eax, %eax
	jz	4f
	call	parse_num
	mov	%al, idle
4:	mov	$k_check, %edi
	call	find_arg
	test	%eax, %eax
	jz	2f
	call	parse_num
	/* 4 GiB or more means "all of it" (find_ram sees the carry) */
	cmp	$4095, %eax
	jb	3f
	mov	$4095, %eax
3:	mov	%eax, check_mib
	movb	$1, check_set
2:	mov	$k_stride, %edi
	call	find_arg
	test	%eax, %eax
	jz	9f
	call	parse_num
	/* a power of two, 4 to CHUNK: every chunk then starts on a word */
	cmp	$4, %eax
	jb	9f
	cmp	$CHUNK, %eax
	ja	9f
	lea	-1(%eax), %ecx
	test	%ecx, %eax
	jnz	9f
	mov	%eax, stride
9:	ret

/*
 * %esi = command line, %edi = "key=": %eax = where its value starts, or 0.
 * Only a whole word matches: "xseed=1" is not "seed=".
 */
find_arg:
	push	%ebx
	push	%ecx
	push	%edx
	mov	%esi, %ebx
1:	mov	%ebx, %ecx
	mov	%edi, %edx
2:	mov	(%edx), %al
	test	%al, %al
	jz	5f
	cmp	(%ecx), %al
	jne	3f
	inc	%ecx
	inc	%edx
	jmp	2b
3:	mov	(%ebx), %al		/* on to the next word */
	test	%al, %al
	jz	4f
	inc	%ebx
	cmp	$' ', %al
	jne	3b
	jmp	1b
4:	xor	%ecx, %ecx
5:	mov	%ecx, %eax
	pop	%edx
	pop	%ecx
	pop	%ebx
	ret

/* The number at %eax: 0x-hex or decimal, up to the first non-digit. */
parse_num:
	push	%ecx
	push	%esi
	mov	%eax, %esi
	xor	%eax, %eax
	cmpb	$'0', (%esi)
	jne	3f
	movzbl	1(%esi), %ecx
	or	$0x20, %ecx
	cmp	$'x', %ecx
	jne	3f
	add	$2, %esi
1:	movzbl	(%esi), %ecx
	sub	$'0', %ecx
	cmp	$9, %ecx
	jbe	2f
	movzbl	(%esi), %ecx
	or	$0x20, %ecx
	sub	$'a', %ecx
	cmp	$5, %ecx
	ja	9f
	add	$10, %ecx
2:	shl	$4, %eax
	add	%ecx, %eax
	inc	%esi
	jmp	1b
3:	movzbl	(%esi), %ecx
	sub	$'0', %ecx
	cmp	$9, %ecx
	ja	9f
	imul	$10, %eax, %eax
	add	%ecx, %eax
	inc	%esi
	jmp	3b
9:	pop	%esi
	pop	%ecx
	ret

/* ---- the RAM to check: [CHECK_BASE, region_end) ---- */

/*
 * The memory map's usable region that holds CHECK_BASE (it leaves out
 * what the firmware reserved at the top of low RAM); mem_upper if the
 * loader gave no map.
 */
find_ram:
	xor	%ebx, %ebx
	testl	$MBI_F_MMAP, MBI_FLAGS(%ebp)
	jz	5f
	mov	MBI_MMAP_ADDR(%ebp), %esi
	mov	MBI_MMAP_LEN(%ebp), %ecx
	add	%esi, %ecx
1:	cmp	%ecx, %esi
	jae	5f
	cmpl	$1, 20(%esi)		/* type: available RAM */
	jne	4f
	cmpl	$0, 8(%esi)		/* base above 4 GiB */
	jne	4f
	mov	4(%esi), %eax
	cmp	$CHECK_BASE, %eax
	ja	4f
	mov	12(%esi), %edx		/* end = base + length, 64-bit */
	mov	16(%esi), %edi
	add	%eax, %edx
	adc	$0, %edi
	jz	2f
	mov	$TOP, %edx
2:	cmp	$CHECK_BASE, %edx	/* ends below: the 640 KiB, say */
	jbe	4f
	cmp	$TOP, %edx
	jbe	3f
	mov	$TOP, %edx
3:	mov	%edx, %ebx
	jmp	6f
4:	add	(%esi), %esi		/* the entry's size does not count itself */
	add	$4, %esi
	jmp	1b
5:	testl	$MBI_F_MEM, MBI_FLAGS(%ebp)
	jz	6f
	mov	MBI_MEM_UPPER(%ebp), %eax	/* KiB above 1 MiB */
	cmp	$((TOP - 0x100000) >> 10), %eax
	jbe	7f
	mov	$((TOP - 0x100000) >> 10), %eax
7:	shl	$10, %eax
	lea	0x100000(%eax), %ebx
6:	and	$~(CHUNK - 1), %ebx
	cmp	$CHECK_BASE, %ebx
	jae	8f
	mov	$s_noram, %esi
	jmp	die
8:	cmpb	$0, check_set
	je	9f
	mov	check_mib, %eax
	shl	$20, %eax
	add	$CHECK_BASE, %eax
	jc	9f
	cmp	%ebx, %eax
	jae	9f
	mov	%eax, %ebx
9:	mov	%ebx, region_end
	ret

/*
 * TSC ticks per 50 ms, timed with PIT channel 2, then 4 of them per
 * report. A vCPU descheduled between the PIT's edge and rdtsc makes a
 * timing long, never short: the shortest of three is the one to trust.
 */
calibrate:
	mov	$0xffffffff, %ebx
	mov	$3, %ecx
1:	push	%ecx
	call	pit_50ms
	pop	%ecx
	cmp	%ebx, %eax
	jae	2f
	mov	%eax, %ebx
2:	loop	1b
	mov	%ebx, tsc_50ms
	xor	%edx, %edx
	shld	$2, %ebx, %edx
	shl	$2, %ebx
	mov	%ebx, interval
	mov	%edx, interval + 4
	ret

/*
 * TSC ticks while PIT channel 2 counts 50 ms (gate on, speaker off, mode
 * 0: OUT rises when the count runs out), into %eax. If OUT never rises,
 * a 2 GHz TSC is assumed: lines then come at some other rate, which no
 * test relies on.
 */
pit_50ms:
	in	$0x61, %al
	and	$0xfd, %al
	or	$0x01, %al
	out	%al, $0x61
	mov	$0xb0, %al
	out	%al, $0x43
	mov	$(PIT_50MS & 0xff), %al
	out	%al, $0x42
	mov	$(PIT_50MS >> 8), %al
	out	%al, $0x42
	rdtsc
	mov	%eax, %esi
	mov	%edx, %edi
	mov	$0x10000000, %ecx
1:	in	$0x61, %al
	test	$0x20, %al
	jnz	2f
	loop	1b
	mov	$100000000, %eax
	ret
2:	rdtsc
	sub	%esi, %eax
	sbb	%edi, %edx
	jz	3f
	mov	$0xffffffff, %eax	/* absurd: a 50 ms that took > 4G ticks */
3:	ret

/* ---- the serial port and numbers ---- */

serial_init:
	mov	$COM1 + 1, %dx
	xor	%al, %al		/* no interrupts */
	out	%al, %dx
	mov	$COM1 + 3, %dx
	mov	$0x80, %al		/* the divisor latch... */
	out	%al, %dx
	mov	$COM1, %dx
	mov	$1, %al			/* ...115200 baud */
	out	%al, %dx
	mov	$COM1 + 1, %dx
	xor	%al, %al
	out	%al, %dx
	mov	$COM1 + 3, %dx
	mov	$0x03, %al		/* 8N1 */
	out	%al, %dx
	mov	$COM1 + 2, %dx
	mov	$0xc7, %al		/* FIFO on and cleared */
	out	%al, %dx
	mov	$COM1 + 4, %dx
	mov	$0x03, %al		/* DTR, RTS */
	out	%al, %dx
	ret

putc:
	push	%edx
	push	%eax
	mov	$COM1 + 5, %dx
1:	in	%dx, %al
	test	$0x20, %al		/* transmitter holding register empty */
	jz	1b
	pop	%eax
	mov	$COM1, %dx
	out	%al, %dx
	pop	%edx
	ret

/* The NUL-terminated string at %esi. */
puts:
	push	%eax
	push	%esi
1:	lodsb
	test	%al, %al
	jz	2f
	call	putc
	jmp	1b
2:	pop	%esi
	pop	%eax
	ret

newline:
	push	%eax
	mov	$'\n', %al
	call	putc
	pop	%eax
	ret

/* %eax as 0x and 8 hex digits. */
put_hex:
	pusha
	mov	%eax, %edx
	mov	$'0', %al
	call	putc
	mov	$'x', %al
	call	putc
	mov	$8, %ecx
1:	rol	$4, %edx
	mov	%edx, %eax
	and	$0xf, %eax
	mov	hexdigits(%eax), %al
	call	putc
	loop	1b
	popa
	ret

/* %edx:%eax /= %ecx, remainder in %ebx; %ecx kept. */
div64:
	push	%esi
	mov	%eax, %esi
	mov	%edx, %eax
	xor	%edx, %edx
	div	%ecx
	xchg	%eax, %esi
	div	%ecx
	mov	%edx, %ebx
	mov	%esi, %edx
	pop	%esi
	ret

put_dec32:
	push	%edx
	xor	%edx, %edx
	call	put_dec64
	pop	%edx
	ret

/* %edx:%eax in decimal. */
put_dec64:
	pusha
	mov	$numbuf_end, %edi
	movb	$0, (%edi)
	mov	$10, %ecx
1:	call	div64
	add	$'0', %bl
	dec	%edi
	mov	%bl, (%edi)
	mov	%eax, %ebx
	or	%edx, %ebx
	jnz	1b
	mov	%edi, %esi
	call	puts
	popa
	ret

/* A message at %esi, then nothing more: interrupts are off, hlt is final. */
die:
	cli
	call	puts
1:	hlt
	jmp	1b

/* ---- idling: the PIT's IRQ0 every 10 ms, nothing else ---- */

idle_init:
	/* Every vector is fatal but the PICs' 16, which only acknowledge. */
	mov	$idt, %edi
	xor	%ecx, %ecx
1:	mov	$trap, %eax
	cmp	$IRQ_BASE, %ecx
	jb	2f
	cmp	$IRQ_BASE + 16, %ecx
	jae	2f
	mov	$irq, %eax
2:	mov	%ax, (%edi)		/* handler, bits 15:0 */
	movw	$0x08, 2(%edi)		/* our code segment */
	movw	$0x8e00, 4(%edi)	/* present, ring 0, interrupt gate */
	shr	$16, %eax
	mov	%ax, 6(%edi)		/* handler, bits 31:16 */
	add	$8, %edi
	inc	%ecx
	cmp	$256, %ecx
	jb	1b
	lidt	idt_desc
	/* Both PICs moved to IRQ_BASE (the BIOS left IRQ0 on the #DF vector), all masked but IRQ0. */
	mov	$0x11, %al		/* ICW1: edge, cascade, ICW4 follows */
	out	%al, $PIC1
	out	%al, $PIC2
	mov	$IRQ_BASE, %al
	out	%al, $PIC1 + 1
	mov	$IRQ_BASE + 8, %al
	out	%al, $PIC2 + 1
	mov	$4, %al			/* the slave on IRQ2 */
	out	%al, $PIC1 + 1
	mov	$2, %al
	out	%al, $PIC2 + 1
	mov	$1, %al			/* 8086 mode */
	out	%al, $PIC1 + 1
	out	%al, $PIC2 + 1
	mov	$0xfe, %al
	out	%al, $PIC1 + 1
	mov	$0xff, %al
	out	%al, $PIC2 + 1
	/* PIT channel 0, mode 2 (a rate generator), every 10 ms. */
	mov	$0x34, %al
	out	%al, $0x43
	mov	$(PIT_10MS & 0xff), %al
	out	%al, $0x40
	mov	$(PIT_10MS >> 8), %al
	out	%al, $0x40
	ret

irq:
	push	%eax
	mov	$0x20, %al		/* end of interrupt */
	out	%al, $PIC1
	pop	%eax
	iret

trap:
	mov	$s_trap, %esi
	jmp	die

	.p2align 3
gdt:
	.quad	0
	.quad	0x00cf9a000000ffff	/* 0x08: code, flat 4 GiB, 32-bit */
	.quad	0x00cf92000000ffff	/* 0x10: data, flat 4 GiB */
gdt_desc:
	.word	gdt_desc - gdt - 1
	.long	gdt
idt_desc:
	.word	256 * 8 - 1
	.long	idt

hexdigits:	.ascii	"0123456789abcdef"
k_seed:		.asciz	"seed="
k_check:	.asciz	"check="
k_stride:	.asciz	"stride="
k_idle:		.asciz	"idle="
s_trap:		.asciz	"memguest: BAD unexpected exception or interrupt\n"
s_nomb:		.asciz	"memguest: not started by a multiboot loader\n"
s_noram:	.asciz	"memguest: no RAM above 2 MiB to check\n"
s_ram:		.asciz	"memguest: ram "
s_stride:	.asciz	" stride="
s_filled:	.asciz	"memguest: filled "
s_seed:		.asciz	" MiB seed="
s_fillms:	.asciz	"memguest: fill_ms="
s_tsckhz:	.asciz	" tsc_khz="
s_counter:	.asciz	"memguest: counter="
s_ok:		.asciz	" ok="
s_checked:	.asciz	" checked="
s_bad:		.asciz	"memguest: BAD addr="
s_got:		.asciz	" got="
s_want:		.asciz	" want="

	.bss
	.p2align 4
idt:		.skip	256 * 8
stack:		.skip	8192
stack_top:
seed:		.skip	4
stride:		.skip	4
check_mib:	.skip	4
check_set:	.skip	1
idle:		.skip	1
ok:		.skip	1
	.p2align 3
region_end:	.skip	4
cursor:		.skip	4
tsc_50ms:	.skip	4
interval:	.skip	8
deadline:	.skip	8
t0:		.skip	8
counter:	.skip	8
checked:	.skip	8
numbuf:		.skip	24
numbuf_end:	.skip	1
