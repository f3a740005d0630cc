# layerctl — one Makefile for the whole tree.
#
#   make               build ./layerctl
#   make check         install deps (if root and missing), build, run every test
#   make check SANITIZE=1   the same under AddressSanitizer + UBSan
#   make demo          install deps, build, run the busybox demo
#   make bench         benchmarks against the peers (tests/bench/)
#   make mutate        the mutation check: deliberate breakages must fail tests (docs/testing.md)
#   make install       honours PREFIX and DESTDIR
#
# BUILD=DIR puts objects elsewhere (parallel work trees, sanitizer builds).

PREFIX    ?= /usr/local
BINDIR    ?= $(PREFIX)/bin
MANDIR    ?= $(PREFIX)/share/man
SYSTEMDDIR ?= $(PREFIX)/lib/systemd
DESTDIR   ?=
BUILD     ?= build

PKGS      := mount blkid libxxhash libcap libarchive libseccomp libmnl libnftables
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# Headers only, loaded on first use (src/basic/dlopen-lib.h, docs/benchmarks.md):
# libarchive (src/store/archive-dl.c), libmount (src/basic/mount-dl.c),
# libcap (src/runner/cap-dl.c), libseccomp (src/runner/seccomp-dl.c),
# libblkid (src/store/blkid-dl.c), libmnl and libnftables (src/runner/mnl-dl.c,
# nft-dl.c).  Only libc is linked (tests/integration/test-dlopen.sh).
# libxxhash: headers only too; src/basic/xxhash.c compiles its code in.
PKG_LIBS   := $(shell pkg-config --libs $(filter-out libarchive libxxhash mount blkid libcap libseccomp libmnl libnftables,$(PKGS)) 2>/dev/null)

CC        ?= cc
CFLAGS    ?= -O2 -g
CFLAGS    += -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter \
             -Wmissing-prototypes -Wshadow -Wformat=2 -fno-strict-aliasing \
             -ffunction-sections \
             -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -I. $(PKG_CFLAGS)
LDLIBS    += $(PKG_LIBS)

# The functions a start-up runs (src/startup-functions.txt, made by
# tests/bench/startup-functions.sh) are placed together, so a short command
# faults in one or two 64 KiB windows of code instead of every one
# (docs/benchmarks.md, "Code placement").  gold orders sections by a list;
# without gold the default linker keeps the source order: same program,
# slower start.
STARTUP_FUNCS := src/startup-functions.txt
HAVE_GOLD := $(shell $(CC) -fuse-ld=gold -Wl,--version 2>/dev/null | grep -q 'GNU gold' && echo yes)
ifeq ($(HAVE_GOLD),yes)
  STARTUP_ORDER = $(BUILD)/startup-sections.order
  LD_ORDER = -fuse-ld=gold -Wl,--section-ordering-file=$(STARTUP_ORDER)
endif

# FUZZ=1: the libFuzzer build (make fuzz), instrumented, in its own BUILD dir.
ifeq ($(FUZZ),1)
  CC      := clang
  CFLAGS  += -O1 -fsanitize=fuzzer-no-link,address,undefined
  BUILD   := build-fuzz
endif

ifeq ($(SANITIZE),1)
  CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  LDFLAGS += -fsanitize=address,undefined
  BUILD   := $(BUILD)-san
endif

# Each module is every .c in its directory: adding a file needs no Makefile edit.
# Libraries, top of the include graph first (docs/HACKING.md, "Layout"):
#   cli (src/*.c) -> runner, store -> fstab-gen, diff -> overlay -> basic
BASIC_SRC   := $(wildcard src/basic/*.c)
OVERLAY_SRC := $(wildcard overlay/*.c)
DIFF_SRC    := $(wildcard diff/*.c)
FSTAB_SRC   := $(wildcard fstab-gen/*.c)
STORE_SRC   := $(wildcard src/store/*.c)
RUNNER_SRC  := $(wildcard src/runner/*.c)
CLI_SRC     := $(filter-out src/main.c,$(wildcard src/*.c))
UNIT_SRC    := $(wildcard tests/unit/test-*.c)
FUZZ_SRC    := $(wildcard tests/fuzz/fuzz-*.c)

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))

LIBS_A := $(BUILD)/libcli.a $(BUILD)/librunner.a $(BUILD)/libstore.a $(BUILD)/libfstab-gen.a \
          $(BUILD)/libdiff.a $(BUILD)/liboverlay.a $(BUILD)/libbasic.a
UNIT_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))

# Unit-test objects are intermediates of a pattern rule: keep them.
.SECONDARY:

.PHONY: all check check-unit check-integration unit-tests demo bench install uninstall clean deps fuzz fuzz-targets mutate

# ./layerctl is the default build only; other BUILD dirs (sanitizers) keep theirs.
all: $(BUILD)/layerctl
ifeq ($(BUILD),build)
all: layerctl
layerctl: $(BUILD)/layerctl
	cp -f $< $@
endif

$(BUILD)/layerctl: $(call obj,src/main.c) $(LIBS_A) $(STARTUP_ORDER)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) $(LD_ORDER) -o $@ $(filter-out %.order,$^) $(LDLIBS)

# One section per function (-ffunction-sections): .text.NAME, .text.NAME.*
# for GCC's clones (NAME.part.0, NAME.constprop.0), .text.startup.NAME for
# what GCC knows runs once.
$(BUILD)/startup-sections.order: $(STARTUP_FUNCS) Makefile
	@mkdir -p $(dir $@)
	$(Q)sed -e 's/#.*//' -e '/^[[:space:]]*$$/d' \
		-e 's/^[[:space:]]*\([^[:space:]]*\).*/.text.\1\n.text.\1.*\n.text.startup.\1/' $< >$@.tmp && mv $@.tmp $@

$(BUILD)/libbasic.a: $(call obj,$(BASIC_SRC))
$(BUILD)/liboverlay.a: $(call obj,$(OVERLAY_SRC))
$(BUILD)/libdiff.a: $(call obj,$(DIFF_SRC))
$(BUILD)/libfstab-gen.a: $(call obj,$(FSTAB_SRC))
$(BUILD)/libstore.a: $(call obj,$(STORE_SRC))
$(BUILD)/librunner.a: $(call obj,$(RUNNER_SRC))
$(BUILD)/libcli.a: $(call obj,$(CLI_SRC))
$(BUILD)/%.a:
	@mkdir -p $(dir $@)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

# V=1 shows the full commands.
ifneq ($(V),1)
  Q := @
endif

# The flags are in this file: objects built with other flags are rebuilt.
$(BUILD)/%.o: %.c Makefile
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

# Unit tests may call libcap and libseccomp themselves (to build test filters).
TEST_LDLIBS := $(shell pkg-config --libs libcap libseccomp 2>/dev/null)
$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(LIBS_A)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(TEST_LDLIBS)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# Installs what is missing (needs root and apt-get); silent when all is there.
deps:
	@contrib/install-deps --if-missing

check: deps
	$(MAKE) all unit-tests
	LAYERCTL=$(abspath $(BUILD)/layerctl) UNIT_DIR=$(abspath $(BUILD)/tests) tests/run

unit-tests: $(UNIT_BIN)

check-unit: unit-tests
	LAYERCTL=$(abspath $(BUILD)/layerctl) UNIT_DIR=$(abspath $(BUILD)/tests) tests/run --unit

check-integration: all
	LAYERCTL=$(abspath $(BUILD)/layerctl) UNIT_DIR=$(abspath $(BUILD)/tests) tests/run --integration

demo: deps
	$(MAKE) all
	LAYERCTL=$(abspath $(BUILD)/layerctl) contrib/demo

bench: deps
	$(MAKE) all
	LAYERCTL=$(abspath $(BUILD)/layerctl) tests/bench/run

# Not part of check: it builds the tree once per breakage (~3 min in all).
mutate: deps
	tests/mutate/run

# libFuzzer targets (clang): build-fuzz/fuzz/fuzz-NAME; run with
# -max_total_time=SECONDS.  The module libraries are rebuilt instrumented in
# build-fuzz and each target links against them like the program does.
fuzz:
	$(MAKE) FUZZ=1 fuzz-targets
fuzz-targets: $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))
$(BUILD)/fuzz/%: $(BUILD)/tests/fuzz/%.o $(LIBS_A)
	@mkdir -p $(dir $@)
	$(CC) -fsanitize=fuzzer,address,undefined -o $@ $^ $(LDLIBS)

# What install puts in place, so uninstall removes exactly that.
COMPLETION := $(PREFIX)/share/bash-completion/completions/layerctl
UNITS      := layerctl@.service machines-layerctl.target
GENERATOR  := $(SYSTEMDDIR)/system-generators/layerctl-fstab-generator

install: all
	install -Dm755 $(BUILD)/layerctl $(DESTDIR)$(BINDIR)/layerctl
	for m in man/*.[0-9]; do install -Dm644 $$m $(DESTDIR)$(MANDIR)/man$${m##*.}/$${m##*/}; done
	install -Dm644 contrib/bash-completion $(DESTDIR)$(COMPLETION)
	for u in $(UNITS); do install -Dm644 contrib/$$u $(DESTDIR)$(SYSTEMDDIR)/system/$$u; done
	install -Dm755 contrib/layerctl-fstab-generator $(DESTDIR)$(GENERATOR)

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/layerctl $(DESTDIR)$(COMPLETION) $(DESTDIR)$(GENERATOR)
	for m in man/*.[0-9]; do rm -f $(DESTDIR)$(MANDIR)/man$${m##*.}/$${m##*/}; done
	for u in $(UNITS); do rm -f $(DESTDIR)$(SYSTEMDDIR)/system/$$u; done

clean:
	rm -rf build build-san build-fuzz layerctl
