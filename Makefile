# filmeto: five commands over one static library, bundled plugins, tests.
#
#   make            build lib/libfilmeto.a, cmd/filmeto-*, plugins/*
#   make demo       install missing dependencies, build, render an example
#   make check      install missing dependencies, build, run every test
#   make check-sanitize  the C unit tests and fuzz replays under ASan+UBSan
#   make lint       clang-format (check mode) and cppcheck
#   make fuzz       libFuzzer targets under tests/fuzz/bin (needs clang)
#   make bench      benchmarks under bench/
#   make install    PREFIX=/usr/local DESTDIR=
#   SANITIZE=1      build with ASan and UBSan

PREFIX ?= /usr/local
DESTDIR ?=
CC ?= cc
PKG_CONFIG ?= pkg-config

PKGS = libcurl json-c libarchive nettle libavformat libavcodec libavfilter \
       libswscale libswresample libavutil yaml-0.1 espeak-ng

# Debian packages that provide PKGS and what the tests and demo run.
DEB_PKGS = build-essential pkg-config libcurl4-openssl-dev libjson-c-dev \
	libarchive-dev nettle-dev libavformat-dev libavcodec-dev libavfilter-dev \
	libswscale-dev libswresample-dev libavutil-dev libyaml-dev \
	libespeak-ng-dev bats ffmpeg fonts-dejavu-core python3 python3-venv procps bsdutils \
	python3-pil python3-requests python3-pip python3-jsonschema python3-yaml \
	mandoc zsh fish xz-utils zstd tmux libwslay-dev parallel slurm-wlm munge \
	libevent-dev curl chromium
DEB_TOOLS = bats ffprobe python3 cc pgrep mandoc zsh fish xz zstd tmux script parallel sbatch curl \
	chromium
# Daemons under sbin, which a user's PATH may lack: tests/slurm_helper.bash
# starts a one-node cluster of them.
DEB_DAEMONS = /usr/sbin/slurmctld /usr/sbin/slurmd /usr/sbin/munged
DEB_FONT = /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
# What make lint runs: apart from DEB_PKGS, since clang-format brings LLVM.
LINT_PKGS = clang-format cppcheck

PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
# wslay (WebSocket framing, for comfyui) ships no pkg-config file.
PKG_LIBS := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null) -lwslay
WSLAY_H = /usr/include/wslay/wslay.h
# libevent's evhttp, for filmeto-serve only: the other commands do not link it.
EVENT_LIBS = -levent
EVENT_H = /usr/include/event2/http.h

WARN = -Wall -Wextra -Werror
CFLAGS ?= -O2 -g
ifeq ($(SANITIZE),1)
# GCC's flow warnings misfire on instrumented code (array-bounds,
# stringop-overread, format-truncation): they stay visible but do not stop
# the build. The plain build, which CI runs, keeps -Werror.
WARN = -Wall -Wextra
# A sanitizer's report stops the program, so a test sees it as a failure.
CFLAGS += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
# Plugins the tests scaffold and build link against this libfilmeto too.
export LDFLAGS
endif
# lib/ on the quote path only (#include "x.h"): lib/yaml.h must not hide
# libyaml's <yaml.h>.
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) -iquote lib $(PKG_CFLAGS) \
	-DFM_PREFIX='"$(PREFIX)"' -MMD -MP
ALL_LDFLAGS = $(LDFLAGS) -Wl,--as-needed

LIB_SRC = $(wildcard lib/*.c)
LIB_OBJ = $(LIB_SRC:.c=.o)
LIB = lib/libfilmeto.a

CMDS = filmeto-submit filmeto-run filmeto-watch filmeto-plugin filmeto-serve
CMD_BIN = $(addprefix cmd/,$(CMDS))
# What filmeto-run starts for its built-in tools (lib/builtin.h): the only
# programs of filmeto-run's that link libav*, so that it starts without
# them. Installed off PATH, in PREFIX/lib/filmeto.
HELPERS = filmeto-combine
HELPER_BIN = $(addprefix cmd/,$(HELPERS))

# A C plugin is plugins/NAME/NAME.c built into plugins/NAME/NAME.
C_PLUGINS = $(patsubst plugins/%/,%,$(dir $(wildcard plugins/*/*.c)))
PLUGIN_BIN = $(foreach p,$(sort $(C_PLUGINS)),plugins/$(p)/$(p))

UNIT_SRC = $(wildcard tests/unit/*.c)
UNIT_BIN = tests/unit/test-lib
FUZZ_SRC = $(filter-out tests/fuzz/standalone.c,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_REPLAY = $(patsubst tests/fuzz/%.c,tests/fuzz/bin/%-replay,$(FUZZ_SRC))
FUZZ_BIN = $(patsubst tests/fuzz/%.c,tests/fuzz/bin/%,$(FUZZ_SRC))

all: $(LIB) $(CMD_BIN) $(HELPER_BIN) $(PLUGIN_BIN)

lib/%.o: lib/%.c
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# --version names the git revision built: build/revision changes only when
# the revision does, and version.o is rebuilt then.
REVISION := $(shell git describe --always --dirty 2>/dev/null || echo unknown)
build/revision: FORCE
	@mkdir -p build
	@echo '$(REVISION)' | cmp -s - $@ || echo '$(REVISION)' > $@
lib/version.o: build/revision
lib/version.o: ALL_CFLAGS += -DFM_REVISION='"$(REVISION)"'
FORCE:

$(LIB): $(LIB_OBJ)
	rm -f $@
	$(AR) rcs $@ $(LIB_OBJ)

cmd/%: cmd/%.c $(LIB)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LIB) $(ALL_LDFLAGS) $(PKG_LIBS) -lm

cmd/filmeto-serve: cmd/filmeto-serve.c $(LIB)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LIB) $(ALL_LDFLAGS) $(PKG_LIBS) $(EVENT_LIBS) -lm

plugins/%: plugins/%.c $(LIB)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LIB) $(ALL_LDFLAGS) $(PKG_LIBS) -lm

# kenburns resamples every frame of a clip itself: its loops over a row
# are worth the vectorizer's full effort, which -O2 holds back.
plugins/kenburns/kenburns: private ALL_CFLAGS += -O3

$(UNIT_BIN): $(UNIT_SRC) $(LIB)
	$(CC) $(ALL_CFLAGS) -o $@ $(UNIT_SRC) $(LIB) $(ALL_LDFLAGS) $(PKG_LIBS) -lm

# Fuzz targets replayed over their corpus by a plain driver: part of check.
tests/fuzz/bin/%-replay: tests/fuzz/%.c tests/fuzz/standalone.c $(LIB)
	@mkdir -p tests/fuzz/bin
	$(CC) $(ALL_CFLAGS) -o $@ $< tests/fuzz/standalone.c $(LIB) $(ALL_LDFLAGS) $(PKG_LIBS) -lm

# The same targets under libFuzzer, for real fuzzing with clang.
tests/fuzz/bin/%: tests/fuzz/%.c $(LIB_SRC)
	@mkdir -p tests/fuzz/bin
	clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -iquote lib \
		$(PKG_CFLAGS) -DFM_PREFIX='"$(PREFIX)"' -o $@ $< $(LIB_SRC) $(PKG_LIBS) -lm

fuzz: $(FUZZ_BIN)

# An LD_PRELOAD shim for the tests: flock(2) as on an NFS client, where it
# needs a descriptor open for writing, and inotify that can be turned off.
SHIM = tests/nfsshim.so
$(SHIM): tests/nfsshim.c
	$(CC) -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) -fPIC -shared -o $@ $< -ldl

# Installs what is missing, through sudo when not root; does nothing when
# pkg-config and the tools already find everything.
deps:
	@missing=; \
	$(PKG_CONFIG) --exists $(PKGS) 2>/dev/null || missing=libraries; \
	for t in $(DEB_TOOLS); do command -v $$t >/dev/null || missing="$$missing $$t"; done; \
	for t in $(DEB_DAEMONS); do [ -x $$t ] || missing="$$missing $${t##*/}"; done; \
	[ -f $(DEB_FONT) ] || missing="$$missing fonts"; \
	[ -f $(WSLAY_H) ] || missing="$$missing wslay"; \
	dpkg -s libevent-dev >/dev/null 2>&1 || [ -f $(EVENT_H) ] || missing="$$missing libevent-dev"; \
	python3 -c 'import venv, ensurepip' 2>/dev/null || missing="$$missing python3-venv"; \
	/usr/bin/python3 -c 'import PIL, requests, pip' 2>/dev/null || missing="$$missing python3-pil"; \
	/usr/bin/python3 -c 'import jsonschema, yaml' 2>/dev/null || missing="$$missing python3-jsonschema"; \
	if [ -n "$$missing" ]; then \
		echo "deps: missing$$missing; installing with apt-get"; \
		sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		$$sudo apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq \
			--no-install-recommends $(DEB_PKGS); \
	fi

# Sub-makes: the library flags come from pkg-config, which only answers
# once deps has run.
check: deps
	$(MAKE) --no-print-directory node-deps test

# The test clients from npm (the OpenAI SDK, playwright-core, s3rver), as
# tests/package-lock.json pins them; npm ci again only when the lock changes.
# No install scripts run: none of them needs one (playwright-core drives
# Debian's chromium, it downloads no browser).
NODE_STAMP = tests/node_modules/.filmeto-ci
node-deps: $(NODE_STAMP)
$(NODE_STAMP): tests/package.json tests/package-lock.json
	cd tests && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

demo: deps
	$(MAKE) --no-print-directory run-demo

# The bats files run in parallel (GNU parallel under bats --jobs), the
# tests of one file in order: most of their time is spent waiting on
# processes, so twice as many jobs as cores. The longest files go first,
# so the run lasts about as long as its longest file.
BATS_JOBS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) * 2 )))
BATS_FIRST = tests/install_plugin.bats tests/spool.bats tests/readme.bats tests/slurm.bats \
	tests/remote_openai.bats tests/combine.bats tests/spool_hostile.bats \
	tests/remote_comfyui.bats tests/hostile_media.bats tests/remote_http.bats
BATS_FILES = $(BATS_FIRST) $(filter-out $(BATS_FIRST),$(sort $(wildcard tests/*.bats)))

# bats refuses --no-parallelize-within-files without two jobs or more.
BATS_PARALLEL = $(if $(filter-out 0 1,$(BATS_JOBS)),--jobs $(BATS_JOBS) --no-parallelize-within-files)

# A TAP report is kept in build/bats; when a test fails, its lines are
# printed again at the end, where a CI log's tail shows them.
test: test-c all $(SHIM)
	@mkdir -p build/bats
	@bats $(BATS_PARALLEL) -T --formatter pretty --report-formatter tap \
		--output build/bats $(BATS_FILES) || { \
		echo; echo "== failed tests (build/bats/report.tap):"; \
		awk '/^not ok/ {p = 1; print; next} /^ok/ {p = 0} p' build/bats/report.tap; \
		exit 1; }

# The C unit tests and every fuzz corpus replayed.
test-c: $(UNIT_BIN) $(FUZZ_REPLAY)
	$(UNIT_BIN)
	@for f in $(FUZZ_REPLAY); do \
		name=$$(basename $$f -replay); \
		$$f tests/fuzz/corpus/$$name/* || exit 1; \
	done

# test-c under ASan and UBSan, built in a copy of the tree under
# build/sanitize so the plain build stays as it is. CI runs it after check.
check-sanitize: deps
	rm -rf build/sanitize
	mkdir -p build/sanitize
	tar cf - --exclude='*.o' --exclude='*.a' --exclude='*.d' --exclude=tests/fuzz/bin \
		Makefile lib cmd plugins tests share | tar xf - -C build/sanitize
	$(MAKE) --no-print-directory -C build/sanitize clean
	$(MAKE) --no-print-directory -C build/sanitize SANITIZE=1 test-c

run-demo: all
	PATH="$(CURDIR)/cmd:$$PATH" sh share/filmeto/examples/demo.sh

# What the benchmarks compare against: GNU parallel, GNU time, jq, the
# espeak-ng command for the hand-written animatic script, the curl
# command for the loop the openai plugin is measured against, and the
# job queues nq and task-spooler (tsp) for the spool; wrk, and FastAPI on
# uvicorn (the seeds' stack) for filmeto-serve; s3cmd and awscli for
# uploads to object storage.
BENCH_PKGS = parallel time jq espeak-ng curl nq task-spooler wrk python3-fastapi python3-uvicorn \
	s3cmd awscli

bench: deps
	@if ! command -v parallel >/dev/null || ! command -v jq >/dev/null || \
	    ! command -v espeak-ng >/dev/null || ! command -v curl >/dev/null || \
	    ! command -v nq >/dev/null || ! command -v tsp >/dev/null || \
	    ! command -v wrk >/dev/null || ! command -v s3cmd >/dev/null || [ ! -x /usr/bin/aws ] || \
	    ! /usr/bin/python3 -c 'import fastapi, uvicorn' 2>/dev/null || \
	    [ ! -x /usr/bin/time ]; then \
		sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq \
			--no-install-recommends $(BENCH_PKGS); \
	fi
	$(MAKE) --no-print-directory node-deps run-bench

run-bench: all
	@for b in bench/*.sh; do echo "== $$b"; sh $$b || exit 1; done

lint-deps:
	@missing=; for t in $(LINT_PKGS); do command -v $$t >/dev/null || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
		echo "lint-deps: missing$$missing; installing with apt-get"; \
		sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		$$sudo apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq \
			--no-install-recommends $$missing; \
	fi

lint: lint-deps
	clang-format --dry-run -Werror lib/*.c lib/*.h cmd/*.c plugins/*/*.c tests/unit/*.c tests/fuzz/*.c tests/*.c
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability,performance \
		--inline-suppr --std=c11 -D_GNU_SOURCE -Ilib lib cmd plugins tests/unit tests/fuzz tests/nfsshim.c

BINDIR = $(DESTDIR)$(PREFIX)/bin
PLUGINDIR = $(DESTDIR)$(PREFIX)/lib/filmeto/plugins
MANDIR = $(DESTDIR)$(PREFIX)/share/man
SHAREDIR = $(DESTDIR)$(PREFIX)/share
LIBDIR = $(DESTDIR)$(PREFIX)/lib
INCDIR = $(DESTDIR)$(PREFIX)/include/filmeto
FM_VERSION = $(shell sed -n 's/^\#define FM_VERSION "\(.*\)"/\1/p' lib/util.h)

# C plugins build against an installed filmeto with `pkg-config filmeto`.
# The prefix is found from the .pc file's own place, so a tree installed
# under DESTDIR, or moved, still works. Headers are quote-included
# (-iquote): lib/yaml.h must not shadow libyaml's <yaml.h>.
define FILMETO_PC
prefix=$${pcfiledir}/../..
libdir=$${prefix}/lib
includedir=$${prefix}/include/filmeto

Name: filmeto
Description: filmeto's library and plugin SDK
Version: $(FM_VERSION)
Requires: $(PKGS)
Cflags: -iquote $${includedir}
Libs: $${libdir}/libfilmeto.a -lwslay -lm
endef
export FILMETO_PC

install: all
	install -d $(BINDIR) $(PLUGINDIR) $(MANDIR)/man1 $(MANDIR)/man5 $(MANDIR)/man7
	install -m 755 $(CMD_BIN) $(BINDIR)
	install -m 755 $(HELPER_BIN) $(LIBDIR)/filmeto
	install -d $(LIBDIR)/pkgconfig $(INCDIR)
	install -m 644 $(LIB) $(LIBDIR)
	install -m 644 lib/*.h $(INCDIR)
	printf '%s\n' "$$FILMETO_PC" > $(LIBDIR)/pkgconfig/filmeto.pc
	for p in $(C_PLUGINS); do \
		install -d $(PLUGINDIR)/$$p && \
		install -m 644 plugins/$$p/plugin.yaml $(PLUGINDIR)/$$p && \
		install -m 755 plugins/$$p/$$p $(PLUGINDIR)/$$p || exit 1; \
	done
	install -m 644 man/man1/*.1 $(MANDIR)/man1
	install -m 644 man/man5/*.5 $(MANDIR)/man5
	install -m 644 man/man7/*.7 $(MANDIR)/man7
	install -d $(SHAREDIR)/bash-completion/completions $(SHAREDIR)/zsh/site-functions \
		$(SHAREDIR)/fish/vendor_completions.d
	cp -P completions/bash/* $(SHAREDIR)/bash-completion/completions
	install -m 644 completions/zsh/_filmeto $(SHAREDIR)/zsh/site-functions
	install -m 644 completions/fish/*.fish $(SHAREDIR)/fish/vendor_completions.d
	install -d $(SHAREDIR)/filmeto
	cp -R share/filmeto/. $(SHAREDIR)/filmeto

clean:
	rm -f lib/*.o lib/*.d $(LIB) $(CMD_BIN) $(HELPER_BIN) $(PLUGIN_BIN) cmd/*.d plugins/*/*.d \
		$(UNIT_BIN) tests/unit/*.d $(SHIM)
	rm -rf tests/fuzz/bin

.PHONY: FORCE all deps node-deps check check-sanitize demo test test-c run-demo bench run-bench lint lint-deps fuzz install clean
.DELETE_ON_ERROR:

-include $(LIB_OBJ:.o=.d)
-include $(wildcard cmd/*.d plugins/*/*.d tests/fuzz/bin/*.d)
