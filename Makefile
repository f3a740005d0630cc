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
LIBEXECDIR ?= $(PREFIX)/lib
SYSTEMDDIR ?= $(PREFIX)/lib/systemd
DESTDIR   ?=
BUILD     ?= build

PKGS      := mount blkid libxxhash libcap libarchive libseccomp
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# libarchive: headers only; src/archive-dl.c dlopen()s it when an import needs it.
PKG_LIBS   := $(shell pkg-config --libs $(filter-out libarchive,$(PKGS)) 2>/dev/null)

CC        ?= cc
CFLAGS    ?= -O2 -g
CFLAGS    += -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter \
             -Wmissing-prototypes -Wshadow -Wformat=2 -fno-strict-aliasing \
             -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -I. $(PKG_CFLAGS)
LDLIBS    += $(PKG_LIBS)

ifeq ($(SANITIZE),1)
  CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  LDFLAGS += -fsanitize=address,undefined
  BUILD   := $(BUILD)-san
endif

# Each module is every .c in its directory: adding a file needs no Makefile edit.
OVERLAY_SRC := $(wildcard overlay/*.c)
DIFF_SRC    := $(wildcard diff/*.c)
FSTAB_SRC   := $(wildcard fstab-gen/*.c)
APP_SRC     := $(filter-out src/main.c,$(wildcard src/*.c src/*/*.c))
UNIT_SRC    := $(wildcard tests/unit/test-*.c)
FUZZ_SRC    := $(wildcard tests/fuzz/fuzz-*.c)

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))

LIBS_A := $(BUILD)/libapp.a $(BUILD)/libfstab-gen.a $(BUILD)/libdiff.a $(BUILD)/liboverlay.a
UNIT_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))

# Unit-test objects are intermediates of a pattern rule: keep them.
.SECONDARY:

.PHONY: all check check-unit check-integration demo bench install uninstall clean deps fuzz mutate

# ./layerctl is the default build only; other BUILD dirs (sanitizers) keep theirs.
all: $(BUILD)/layerctl
ifeq ($(BUILD),build)
all: layerctl
layerctl: $(BUILD)/layerctl
	cp -f $< $@
endif

$(BUILD)/layerctl: $(call obj,src/main.c) $(LIBS_A)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/liboverlay.a: $(call obj,$(OVERLAY_SRC))
$(BUILD)/libdiff.a: $(call obj,$(DIFF_SRC))
$(BUILD)/libfstab-gen.a: $(call obj,$(FSTAB_SRC))
$(BUILD)/libapp.a: $(call obj,$(APP_SRC))
$(BUILD)/%.a:
	@mkdir -p $(dir $@)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

# V=1 shows the full commands.
ifneq ($(V),1)
  Q := @
endif

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(LIBS_A)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

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

# libFuzzer targets (clang): build-fuzz/fuzz-NAME; run with -max_total_time=SECONDS.
# Each target is compiled with the sources it needs, instrumented:
FUZZ_DEPS_fuzz-settings := src/settings.c src/fsutil.c overlay/fileio.c overlay/testhook.c
FUZZ_DEPS_fuzz-manifest := $(DIFF_SRC) overlay/upper.c overlay/fileio.c overlay/testhook.c
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -std=gnu11 -D_GNU_SOURCE -I. $(PKG_CFLAGS)
fuzz: $(patsubst tests/fuzz/%.c,build-fuzz/%,$(FUZZ_SRC))
build-fuzz/%: tests/fuzz/%.c
	@mkdir -p build-fuzz
	clang $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_DEPS_$*) $(LDLIBS)

install: all
	install -Dm755 $(BUILD)/layerctl $(DESTDIR)$(BINDIR)/layerctl
	for m in man/*.[0-9]; do install -Dm644 $$m $(DESTDIR)$(MANDIR)/man$${m##*.}/$${m##*/}; done
	install -Dm644 contrib/bash-completion $(DESTDIR)$(PREFIX)/share/bash-completion/completions/layerctl
	if [ -f contrib/layerctl@.service ]; then install -Dm644 contrib/layerctl@.service $(DESTDIR)$(SYSTEMDDIR)/system/layerctl@.service; fi
	if [ -f contrib/layerctl-fstab-generator ]; then install -Dm755 contrib/layerctl-fstab-generator $(DESTDIR)$(SYSTEMDDIR)/system-generators/layerctl-fstab-generator; fi
	if [ -f contrib/machines-layerctl.target ]; then install -Dm644 contrib/machines-layerctl.target $(DESTDIR)$(SYSTEMDDIR)/system/machines-layerctl.target; fi

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/layerctl
	for m in man/*.[0-9]; do rm -f $(DESTDIR)$(MANDIR)/man$${m##*.}/$${m##*/}; done

clean:
	rm -rf build build-san build-fuzz layerctl
