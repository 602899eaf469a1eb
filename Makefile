# poketorture build. Everything lands in build/; V=1 shows the commands.
# CROSS_COMPILE=x86_64-elf- selects a cross toolchain; the host gcc works too.

CROSS_COMPILE ?=
CC      := $(CROSS_COMPILE)gcc
LD      := $(CROSS_COMPILE)ld
OBJCOPY := $(CROSS_COMPILE)objcopy
NM      := $(CROSS_COMPILE)nm
NASM    ?= nasm
HOSTCC  ?= gcc

B := build
V ?= 0
ifeq ($(V),1)
Q :=
else
Q := @
endif

# The architecture: its <arch/...> headers (kernel/arch.h lists them) come
# from arch/$(ARCH)/include.
ARCH ?= x86_64
ARCH_INC := -I arch/$(ARCH)/include

# The version the banner prints (kernel/main.c), kept in $(B)/version.c.
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo unknown)

# Freestanding: no libc, no red zone (interrupts push onto the interrupted
# stack), no SSE (CR4.OSFXSR is not set before C runs), kernel code model.
# No unwind tables: the call frame information goes to .debug_frame (kept,
# for gdb's backtraces) rather than .eh_frame (linker.ld drops it).
KCFLAGS_NOINC := -std=gnu11 -O2 -g -ffreestanding -fno-builtin -nostdlib \
	-mno-red-zone -mgeneral-regs-only -fno-pic -fno-pie \
	-fno-stack-protector -fno-omit-frame-pointer -fno-strict-aliasing \
	-fcf-protection=none -mno-80387 \
	-fno-asynchronous-unwind-tables \
	-Wall -Wextra -Werror -Wno-unused-parameter
KCFLAGS := $(KCFLAGS_NOINC) -I. $(ARCH_INC)
KASFLAGS := -f elf64 -g -F dwarf -w+all
KLDFLAGS := -nostdlib -static -z max-page-size=0x1000 -z noexecstack \
	--no-warn-rwx-segments -T linker.ld

# Kernel sources: the architecture's (and its site kit for the tests,
# arch/$(ARCH)/tests/), the generic kernel, and the generic tests. Tests run
# by name, whatever order they are linked in.
KSRC_C := $(wildcard arch/$(ARCH)/*.c) $(wildcard kernel/*.c) $(wildcard tests/kernel/*.c) \
	$(wildcard arch/$(ARCH)/tests/*.c)
KSRC_S := $(wildcard boot/$(ARCH)/*.asm) $(wildcard arch/$(ARCH)/*.asm) \
	$(wildcard arch/$(ARCH)/tests/*.asm)
KOBJ := $(patsubst %.c,$(B)/%.o,$(KSRC_C)) $(patsubst %.asm,$(B)/%.o,$(KSRC_S)) $(B)/version.o

# Pure C pieces that are also unit-tested on the host.
HOST_SHARED := kernel/string.c kernel/format.c kernel/glob.c kernel/cmdline.c kernel/tap.c \
	kernel/random.c arch/x86_64/acpi.c arch/x86_64/mptable.c arch/x86_64/insn.c
HOST_TESTS := $(wildcard tests/host/test_*.c)
HOST_BINS := $(patsubst tests/host/%.c,$(B)/host/%,$(HOST_TESTS))
HOSTCFLAGS := -std=gnu11 -O1 -g -Wall -Wextra -Werror -Wno-unused-parameter \
	-I. $(ARCH_INC) -DPT_HOST -fsanitize=address,undefined

.PHONY: all kernel host-tests run-host-tests iso run test debug clean bench profile contract \
	replay debug-replay sweep prove
all: kernel host-tests contract

kernel: $(B)/poketorture.elf $(B)/poketorture-mb1.elf

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(KCFLAGS) -MMD -MP -c $< -o $@

$(B)/%.o: %.asm
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  NASM    $<")
	$(Q)$(NASM) $(KASFLAGS) -MD $(B)/$*.d -I. $< -o $@

# Rewritten only when `git describe` changes: a build after a commit (or
# with a dirty tree) relinks with the version it is, and an unchanged tree
# rebuilds nothing. A -D flag would only reach the objects that happened
# to be recompiled.
$(B)/version.c: FORCE
	@mkdir -p $(B)
	$(Q)v='const char pt_version[] = "$(VERSION)";'; \
	[ "$$(cat $@ 2>/dev/null)" = "$$v" ] || echo "$$v" >$@

$(B)/version.o: $(B)/version.c
	$(Q)$(CC) $(KCFLAGS) -c $< -o $@

.PHONY: FORCE
FORCE:

# Two links: the second carries the text symbols of the first, for
# symbolized backtraces (tests/tools/mksymtab.sh says why text does not move).
$(B)/symtab-empty.c: tests/tools/mksymtab.sh
	@mkdir -p $(B)
	$(Q)tests/tools/mksymtab.sh </dev/null >$@

$(B)/symtab.c: $(KOBJ) $(B)/symtab-empty.o linker.ld tests/tools/mksymtab.sh
	@$(if $(Q),echo "  SYMTAB  $@")
	$(Q)$(LD) $(KLDFLAGS) -o $(B)/poketorture.stage1.elf $(KOBJ) $(B)/symtab-empty.o
	$(Q)$(NM) -n --defined-only $(B)/poketorture.stage1.elf | tests/tools/mksymtab.sh >$@

$(B)/symtab.o: $(B)/symtab.c
	$(Q)$(CC) $(KCFLAGS) -c $< -o $@

$(B)/symtab-empty.o: $(B)/symtab-empty.c
	$(Q)$(CC) $(KCFLAGS) -c $< -o $@

$(B)/poketorture.elf: $(KOBJ) $(B)/symtab.o linker.ld
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(LD) $(KLDFLAGS) -o $@ $(KOBJ) $(B)/symtab.o
	$(Q)boot/x86_64/check-multiboot.sh $@

# QEMU's -kernel multiboot loader refuses ELF64; the same image relabelled as
# ELF32 loads by its program headers and enters the 32-bit entry point.
$(B)/poketorture-mb1.elf: $(B)/poketorture.elf
	@$(if $(Q),echo "  OBJCOPY $@")
	$(Q)$(OBJCOPY) -O elf32-i386 $< $@
	$(Q)boot/x86_64/check-multiboot.sh $@

# The contract check: kernel/arch.h is all the generic code may know of an
# architecture. Each generic file compiles against the stub architecture
# (arch/stub/include) with no include path to arch/$(ARCH): one that
# includes an architecture's header, or uses what arch.h does not declare,
# fails here, by name. The root holds only kernel/ and tests/.
CONTRACT_SRC := $(wildcard kernel/*.c) $(wildcard tests/kernel/*.c)
CONTRACT_ROOT := $(B)/contract/root

contract: $(patsubst %.c,$(B)/contract/%.ok,$(CONTRACT_SRC))

$(CONTRACT_ROOT):
	@mkdir -p $@
	$(Q)for d in kernel tests; do ln -sfn "$$(realpath --relative-to=$@ $$d)" $@/$$d; done

$(B)/contract/%.ok: %.c | $(CONTRACT_ROOT)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CHECK   $<")
	$(Q)$(CC) $(KCFLAGS_NOINC) -I $(CONTRACT_ROOT) -I arch/stub/include -fsyntax-only \
		-MMD -MP -MF $(B)/contract/$*.d -MT $@ $< || \
		{ echo "contract: $< reaches past kernel/arch.h (see above)"; exit 1; }
	$(Q)touch $@

host-tests: $(HOST_BINS)

$(B)/host/%: tests/host/%.c $(HOST_SHARED) $(wildcard kernel/*.h arch/$(ARCH)/*.h arch/$(ARCH)/include/arch/*.h)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  HOSTCC  $@")
	$(Q)$(HOSTCC) $(HOSTCFLAGS) -o $@ $< $(HOST_SHARED) -lcmocka

run-host-tests: host-tests
	@set -e; for t in $(HOST_BINS); do echo "== $$t"; $$t; done

iso: kernel
	$(Q)boot/x86_64/mkimage.sh --kernel $(B)/poketorture.elf --out $(B)/poketorture.iso

run: kernel
	./run-qemu.sh

# The whole gate: dependencies, host unit tests, then the QEMU matrix. The
# suite runner prints the closing `suite: N passed, N failed` line.
# QEMU=10 (or a path) runs the matrix on another QEMU than the system's.
QEMU ?=
test:
	$(Q)tests/tools/deps.sh
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(MAKE) --no-print-directory run-host-tests
	$(Q)tests/qemu/run-qemu-selftest.sh
	$(Q)QEMU=$(QEMU) tests/qemu/run-suite.sh tests/qemu/suite.manifest

debug: kernel
	./run-qemu.sh --gdb & sleep 1; gdb -q $(B)/poketorture.elf \
		-ex 'target remote :1234' -ex 'break kmain'; kill %1 2>/dev/null || true

# Rerun a replay line (docs/design.md §9.7): LINE='./run-qemu.sh ... -- ...'
# as the kernel printed it; COMPARE=LOG checks the rerun against the log it
# came from, up to the first failure. debug-replay stops it in gdb where
# the failure is reported (BATCH=1: print the backtrace and each vCPU, and
# quit).
replay:
	$(Q)tests/tools/replay.sh $(if $(COMPARE),--compare "$$COMPARE") -- "$$LINE"

debug-replay:
	$(Q)tests/tools/replay.sh --gdb $(if $(BATCH),--batch) -- "$$LINE"

# A seed sweep (tests/sweep.sh --help): SWEEP='--seeds 1-40 --smp 4 --
# tests=poke.*' and so on; results in build/sweeps/.
sweep:
	$(Q)tests/tools/deps.sh
	$(Q)$(MAKE) --no-print-directory kernel
	$(Q)tests/sweep.sh $$SWEEP

# Every break in tests/breaks/ must be caught by the run it names, and that
# run must pass without it (tests/tools/prove.sh; BREAKS='a b' for some).
prove:
	$(Q)tests/tools/deps.sh
	$(Q)tests/tools/prove.sh $$BREAKS

# The benchmark matrix (single-threaded TCG with 2, 4 and 8 CPUs, QEMU 10's
# multi-threaded TCG with 2, each with sync=broadcast and sync=deferred, and
# Linux 6.1's static-key toggle on each: tests/linux/run-linux.sh):
# TSV, Markdown tables and PNG plots in build/bench/. BENCH= picks other
# configurations and sync modes (tests/qemu/bench.sh --help).
bench:
	$(Q)tests/tools/deps.sh
	$(Q)$(MAKE) --no-print-directory kernel
	$(Q)tests/qemu/bench.sh $(BENCH)

# Instructions per patch, counted by single-stepping patch_apply under gdb
# in a deterministic run, per protocol, with the functions they went to:
# build/profile/. PROFILE= picks others (tests/tools/profile.sh --help).
profile:
	$(Q)tests/tools/deps.sh
	$(Q)tests/tools/profile.sh $(PROFILE)

clean:
	rm -rf $(B)

-include $(shell find $(B) -name '*.d' 2>/dev/null)
