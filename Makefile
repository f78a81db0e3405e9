# driftd build. `make` builds build/driftd and build/kafka-local; `make test` runs every test;
# `make demo` runs the end-to-end demo. SANITIZE=address,undefined builds an instrumented tree
# in build-san/. WERROR=1 (set by CI) turns warnings into errors.

PKGS      := rdkafka libuv apr-1 apr-util-1 openblas lapacke sqlite3 libcurl yaml-0.1 jansson libcrypto
TEST_PKGS := cmocka

# Run scripts/install-deps once when pkg-config cannot find a library, so a fresh Debian 12
# machine needs nothing beyond `make`.
ifeq ($(filter clean format,$(MAKECMDGOALS)),)
# Tools the tests and the benchmark run, besides the libraries.
TOOLS     := kcat sqlite3 curl /usr/bin/python3 /usr/bin/time promtool clang
DEPS_OK := $(shell pkg-config --exists $(PKGS) $(TEST_PKGS) 2>/dev/null && \
             for t in $(TOOLS); do command -v $$t >/dev/null || exit 1; done && echo yes)
ifneq ($(DEPS_OK),yes)
$(info make: some dependencies are missing; running scripts/install-deps)
DEPS_RC := $(shell ./scripts/install-deps >&2; echo $$?)
ifneq ($(DEPS_RC),0)
$(error scripts/install-deps failed; install the packages it listed and re-run make)
endif
endif
endif

CC      ?= cc
ifeq ($(origin CC),default)
CC      := cc
endif
SANITIZE ?=
ifneq ($(SANITIZE),)
BUILD   := build-san
SANFLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
OPT     := -O1
else
BUILD   := build
SANFLAGS :=
OPT     := -O2
endif
WARN    := -Wall -Wextra -Wshadow -Wno-unused-parameter
ifeq ($(WERROR),1)
WARN    += -Werror
endif
ifneq ($(CI),)
WARN    += -Werror
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS  := -std=c11 $(OPT) -g $(WARN) $(SANFLAGS) -D_GNU_SOURCE -Ioperators -Iengine $(PKG_CFLAGS)
LDLIBS  := $(PKG_LIBS) -lm -lpthread
LDFLAGS := $(SANFLAGS)

OP_SRC   := $(shell find operators -name '*.c' | sort)
ENG_SRC  := $(filter-out engine/main.c,$(wildcard engine/*.c))
LIB_SRC  := $(OP_SRC) $(ENG_SRC)
LIB_OBJ  := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRC)) $(BUILD)/obj/gen/demo_yaml.o
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))

.PHONY: all test unit integration demo bench clean format sanitize fuzz fuzz-build valgrind
.SECONDARY:
all: $(BUILD)/driftd $(BUILD)/kafka-local $(BUILD)/detect-bench $(BUILD)/mv-bench

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# The demo config is compiled into the binary so `driftd demo` works from any directory.
$(BUILD)/gen/demo_yaml.c: configs/demo.yaml
	@mkdir -p $(dir $@)
	@{ echo '/* generated from configs/demo.yaml by make */'; \
	   echo '#include <stddef.h>'; \
	   echo 'const char drift_demo_yaml[] = {'; \
	   od -An -v -tx1 $< | sed -e 's/\([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	   echo '0x00 };'; \
	   echo 'const size_t drift_demo_yaml_len = sizeof(drift_demo_yaml) - 1;'; } > $@
$(BUILD)/obj/gen/demo_yaml.o: $(BUILD)/gen/demo_yaml.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libdriftd.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/driftd: $(BUILD)/obj/engine/main.o $(BUILD)/libdriftd.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/kafka-local: $(BUILD)/obj/scripts/kafka-local.o $(BUILD)/libdriftd.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/detect-bench: $(BUILD)/obj/scripts/detect-bench.o $(BUILD)/libdriftd.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/mv-bench: $(BUILD)/obj/scripts/mv-bench.o $(BUILD)/libdriftd.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(BUILD)/libdriftd.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs cmocka)

unit: $(UNIT_BIN)
	@BUILD=$(BUILD) tests/unit/run

integration: all
	@BUILD=$(BUILD) tests/integration/run

# Unit tests first (fast, pure), then the integration tests against the real binaries.
test: all $(UNIT_BIN)
	@BUILD=$(BUILD) tests/unit/run 2>&1 | tee $(BUILD)/unit.log; \
	 BUILD=$(BUILD) tests/integration/run 2>&1 | tee $(BUILD)/integration.log; \
	 if [ -z "$(SANITIZE)" ]; then \
	     $(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(TEST_FUZZ_SECONDS) >$(BUILD)/fuzz.log 2>&1 \
	         && fz=0 || { fz=1; tail -n 40 $(BUILD)/fuzz.log; }; \
	     echo "fuzz: $$(grep -c '^fuzz: ' $(BUILD)/fuzz.log) targets for $(TEST_FUZZ_SECONDS)s each, \
	$$([ $$fz = 0 ] && echo clean || echo FAILED)"; \
	 else fz=0; fi; \
	 up=$$(sed -n 's/^unit: \([0-9]*\) passed, \([0-9]*\) failed/\1/p' $(BUILD)/unit.log); \
	 uf=$$(sed -n 's/^unit: \([0-9]*\) passed, \([0-9]*\) failed/\2/p' $(BUILD)/unit.log); \
	 ip=$$(sed -n 's/^integration: \([0-9]*\) passed, \([0-9]*\) failed/\1/p' $(BUILD)/integration.log); \
	 if_=$$(sed -n 's/^integration: \([0-9]*\) passed, \([0-9]*\) failed/\2/p' $(BUILD)/integration.log); \
	 failed=$$(( $${uf:-1} + $${if_:-1} + fz )); \
	 echo "tests: $$(( $${up:-0} + $${ip:-0} )) passed, $$failed failed"; \
	 [ $$failed -eq 0 ]

sanitize:
	$(MAKE) test SANITIZE=address,undefined

demo: all
	./$(BUILD)/driftd demo

bench: all
	./scripts/bench

format:
	clang-format -i $$(find engine operators tests scripts -name '*.[ch]')

clean:
	rm -rf build build-san

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# libFuzzer targets (tests/fuzz/): the message decoder, the config loader, the state loaders.
# A clang tree with ASan and UBSan in build-fuzz/; `make fuzz` runs each for FUZZ_SECONDS
# (default 60) from its committed seed corpus; `make test` runs them for a few seconds.
FUZZ_SECONDS ?= 60
TEST_FUZZ_SECONDS ?= 5
FUZZ_DIR     := build-fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
FUZZ_SRC     := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN     := $(patsubst tests/fuzz/%.c,$(FUZZ_DIR)/fuzz/%,$(FUZZ_SRC))

fuzz-build:
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_DIR) CC=clang OPT=-O1 \
	    SANFLAGS="$(FUZZ_SAN) -fsanitize=fuzzer-no-link" $(FUZZ_DIR)/libdriftd.a
	@$(MAKE) --no-print-directory $(FUZZ_BIN)

$(FUZZ_DIR)/fuzz/%: tests/fuzz/%.c $(FUZZ_DIR)/libdriftd.a
	@mkdir -p $(dir $@)
	clang -std=c11 -O1 -g $(FUZZ_SAN) -fsanitize=fuzzer -D_GNU_SOURCE -Ioperators -Iengine \
	    $(PKG_CFLAGS) -o $@ $< $(FUZZ_DIR)/libdriftd.a $(LDLIBS)

fuzz: fuzz-build
	@for f in $(FUZZ_BIN); do \
	    name=$$(basename $$f); mkdir -p $(FUZZ_DIR)/corpus/$$name; \
	    echo "fuzz: $$name for $(FUZZ_SECONDS)s"; \
	    $$f -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -print_final_stats=1 \
	        $(FUZZ_DIR)/corpus/$$name tests/fuzz/corpus/$$name 2>$(FUZZ_DIR)/$$name.log \
	        || { tail -n 40 $(FUZZ_DIR)/$$name.log; exit 1; }; \
	    grep -h "stat::number_of_executed_units\|stat::peak_rss" $(FUZZ_DIR)/$$name.log; \
	done

# Every unit test under valgrind's memcheck (errors and definite leaks fail it); about 3 minutes
# on 2 cores, so a separate target.
valgrind: $(UNIT_BIN)
	@fail=0; for t in $(UNIT_BIN); do \
	    if OPENBLAS_NUM_THREADS=1 valgrind -q --error-exitcode=9 --leak-check=full \
	        --errors-for-leak-kinds=definite $$t >$$t.valgrind.log 2>&1; then \
	        echo "ok   $$(basename $$t)"; \
	    else echo "FAIL $$(basename $$t) — log: $$t.valgrind.log"; fail=1; fi; \
	done; [ $$fail -eq 0 ]
