# crier: one Makefile, out-of-tree builds.
#   make run    install missing packages, build, start the server on :8080
#   make test   install what the tests need, build, run every test (plain and ASan+UBSan)
# BUILD=build-asan SANITIZE=address,undefined gives a sanitizer build.

BUILD    ?= build
CC       ?= cc
SANITIZE ?=
WERROR   ?=
OPT      ?= -O2

CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -g $(OPT) -Wall -Wextra -Wshadow -Wstrict-prototypes \
               -Wno-unused-parameter -Isrc -MMD -MP $(WERROR)
ifneq ($(SANITIZE),)
CFLAGS_BASE += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS     += -fsanitize=$(SANITIZE)
endif
CFLAGS  := $(CFLAGS_BASE) $(CFLAGS)
LIBS    := -luv -lcurl -lsqlite3 -lhiredis -lcrypto -lz -lm -lpthread

LIB_SRC  := $(sort $(wildcard src/core/*.c src/proto/*.c src/net/*.c src/transport/*.c src/engine/*.c) \
                   $(filter-out src/cli/main.c,$(wildcard src/cli/*.c)))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

Q := @
ifeq ($(V),1)
Q :=
endif

.PHONY: all run test test-unit test-integration test-asan test-fuzz-short fuzz deps deps-test \
        check-layers format format-check clean bench \
        test-asan-integration test-asan-run

all: $(BUILD)/crier

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "CC $<"
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libcrier.a: $(LIB_OBJ)
	@echo "AR $@"
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/crier: $(BUILD)/src/cli/main.o $(BUILD)/libcrier.a
	@echo "LD $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libcrier.a
	@mkdir -p $(dir $@)
	@echo "CC $<"
	$(Q)$(CC) $(CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $< $(BUILD)/libcrier.a -lcmocka $(LIBS)

# --- packages -------------------------------------------------------------------------------------
RUN_PKGS  := build-essential pkg-config libuv1-dev libcurl4-openssl-dev libsqlite3-dev libssl-dev zlib1g-dev \
             libhiredis-dev
TEST_PKGS := $(RUN_PKGS) libcmocka-dev clang libclang-rt-14-dev curl python3-pytest python3-httpx \
             python3-websockets python3-h2 chromium redis-server $(NODE_PKGS)
# Machines that carry NodeSource's nodejs (which bundles npm) can't take Debian's npm beside it.
NODE_PKGS := $(if $(shell command -v npm 2>/dev/null),,nodejs npm)

deps:
	@./scripts/install-packages $(RUN_PKGS)

deps-test:
	@./scripts/install-packages $(TEST_PKGS)
	@cd tests/node && [ -d node_modules/eventsource ] && [ -d node_modules/ws ] || npm install --no-audit --no-fund --silent
	@cd tests/browser && [ -d node_modules/playwright-core ] || npm install --no-audit --no-fund --silent

# --- run ------------------------------------------------------------------------------------------
run: deps
	@$(MAKE) --no-print-directory all
	./$(BUILD)/crier serve --listen 0.0.0.0:8080

# --- tests ----------------------------------------------------------------------------------------
# The plain run serves every test with the default, one event loop per core; the sanitizer runs
# serve it from one loop (--threads 1, what make bench measures), then from two (whatever the
# cores), so both paths see the whole suite under ASan+UBSan too.
test: deps-test
	@$(MAKE) --no-print-directory check-layers
	@$(MAKE) --no-print-directory test-unit test-integration
	@$(MAKE) --no-print-directory test-fuzz-short
	@$(MAKE) --no-print-directory test-asan TEST_THREADS=1
	@$(MAKE) --no-print-directory test-asan-integration TEST_THREADS=2
	@echo "ALL TESTS PASSED"

test-unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "UNIT $$t"; timeout 120 $$t; done

# TEST_THREADS=N: every test server runs --threads N (empty: crier's default, one loop per core).
TEST_THREADS ?=
test-integration: $(BUILD)/crier
	CRIER_BIN=$(abspath $(BUILD)/crier) CRIER_TEST_THREADS=$(TEST_THREADS) \
	    timeout 1200 /usr/bin/python3 -m pytest -q -x tests/integration

# The unit and integration suites again, against an AddressSanitizer + UndefinedBehaviorSanitizer
# build; LeakSanitizer runs at every server exit (the integration fixture fails on any report).
test-asan:
	@$(MAKE) --no-print-directory test-asan-run ASAN_GOALS="test-unit test-integration"

# The integration suite alone under the sanitizers (make test runs it again with two loops).
test-asan-integration:
	@$(MAKE) --no-print-directory test-asan-run ASAN_GOALS=test-integration

test-asan-run:
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    $(MAKE) --no-print-directory BUILD=build-asan CC=clang OPT=-O1 SANITIZE=address,undefined \
	    $(ASAN_GOALS)

FUZZERS := $(patsubst fuzz/%.c,build-fuzz/%,$(wildcard fuzz/fuzz_*.c))
FUZZ_LIB_SRC := $(sort $(wildcard src/core/*.c src/proto/*.c))
# The pure decoders of the Redis engine (no hiredis in them) are fuzzed too.
FUZZ_LIB_SRC += src/engine/redis_url.c src/engine/redis_msg.c
build-fuzz/%: fuzz/%.c fuzz/fuzz_check.h $(FUZZ_LIB_SRC)
	@mkdir -p build-fuzz
	@echo "FUZZ $@"
	$(Q)clang -std=c11 -D_GNU_SOURCE -g -O1 -Isrc -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=all -o $@ $< $(FUZZ_LIB_SRC) -lz -lcrypto -lm

FUZZ_SECONDS ?= 600
test-fuzz-short:
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=10

fuzz: $(FUZZERS)
	@FUZZ_SECONDS=$(FUZZ_SECONDS) ./scripts/run-fuzzers $(FUZZERS)

# --- hygiene --------------------------------------------------------------------------------------
# core includes only core; proto includes libc and core/bytes.h + core/err.h; engine includes core.
check-layers:
	@! grep -nE '#include "(proto|net|transport|engine|cli)/' src/core/*.[ch] || (echo "core must include only core"; false)
	@! grep -nE '#include "(net|transport|engine|cli)/|#include "core/(msg|channel|history|cursor|sub)' src/proto/*.[ch] \
	    || (echo "proto may include only libc, core/bytes.h and core/err.h"; false)
	@! grep -nE '#include "(proto|net|transport|cli)/|<uv.h>' src/engine/*.[ch] || (echo "engine includes core only"; false)
	@! grep -nE '<uv.h>' src/core/*.[ch] src/proto/*.[ch] || (echo "core/proto are IO-free"; false)
	@echo "layers ok"

format:
	clang-format -i src/*/*.[ch] tests/unit/*.c fuzz/*.c bench/*.[ch]

format-check:
	clang-format --dry-run --Werror src/*/*.[ch] tests/unit/*.c fuzz/*.c bench/*.[ch]

clean:
	rm -rf build build-asan build-fuzz

# make bench (and its smoke run in make test) live in bench/bench.mk; make soak in tests/soak/soak.mk
-include bench/bench.mk
-include tests/soak/soak.mk

-include $(LIB_OBJ:.o=.d) $(BUILD)/src/cli/main.d
