# relink's entry points. `make demo` and `make test` are the two commands of the README; CI runs `make test`
# (.ci/run). Each target installs what is missing (scripts/setup.sh), configures its CMake preset once, builds
# and runs. The presets are in CMakePresets.json; their build trees are build/<preset>/.
#
# `make test` runs four phases, each a build and a CTest run of one preset (docs/testing.md):
#   dev   Debug (gcc): every test, the 130 s chaos soak included
#   asan  ASan + UBSan: every test except the soaks and the package consumer
#   tsan  ThreadSanitizer: the threaded tests (CTest label `integration`), only their executables are built
#   fuzz  clang-14, libFuzzer + ASan + UBSan: every fuzz target for 25 s (only the parsers are built; fuzzing.md)
# A failed build stops it at once. Failed tests do not: every phase still runs (so one CI run shows every
# finding), and it fails at the end naming the phases that failed. It prints how long each build and run took.

CMAKE ?= cmake
CTEST ?= ctest
CLANG_FORMAT ?= clang-format

PRESETS := dev release asan tsan fuzz
TEST_PHASES := dev asan tsan fuzz
# The test executables the tsan build preset does not build, on purpose: single-threaded code on a virtual clock
# (core, hub, codec, tokens), which TSan has nothing to check in; and the cluster's end-to-end tests, three relinkd
# processes whose 100 ms heartbeats at time scale 0.1 do not survive TSan's slowdown, while the threads they would
# exercise are TSan-checked by the Client's, relinkd's and the Redis client's tests (docs/testing.md). Any other
# executable missing from the tsan tree fails `make test` (a new threaded test binary must be added to the tsan
# build preset's targets, or here).
TSAN_SKIPPED_BINARIES := relink_core_tests relink_hub_tests relink_protocol_tests relink_token_tests \
                         relink_cluster_tests relink_support_tests relink_testing_tests

# C and C++ sources and headers known to git: tracked, plus new files that are not ignored (so build/ is never touched).
FORMAT_FILES = $(shell git ls-files --cached --others --exclude-standard -- '*.cpp' '*.hpp' '*.c' '*.h' 2>/dev/null)

.PHONY: all demo test fuzz release asan tsan setup format format-check clean \
        $(addprefix configure-,$(PRESETS)) $(addprefix build-,$(PRESETS)) $(addprefix ctest-,$(PRESETS))

all: test

setup:
	bash scripts/setup.sh

# Configure a preset only when its build tree is not configured yet; later CMakeLists.txt changes are picked up
# by the build itself.
$(addprefix configure-,$(PRESETS)): configure-%: setup
	@if [ -f build/$*/CMakeCache.txt ] && [ -f build/$*/build.ninja ]; then \
	    echo "make: build/$* is configured"; \
	else \
	    $(CMAKE) --preset $*; \
	fi

$(addprefix build-,$(PRESETS)): build-%: configure-%
	$(CMAKE) --build --preset $*

demo: configure-dev
	$(CMAKE) --build --preset dev --target relink-demo
	./build/dev/bin/relink-demo

# Runs a preset's tests without building (build-<preset> does that).
$(addprefix ctest-,$(filter-out tsan,$(PRESETS))): ctest-%:
	$(CTEST) --preset $*

ctest-tsan:
	@missing=$$($(CTEST) --test-dir build/tsan -N | sed -n 's/^ *Test *#[0-9]*: \(.*\)_NOT_BUILT$$/\1/p' | \
	    grep -vxF $(addprefix -e ,$(TSAN_SKIPPED_BINARIES)) || true); \
	if [ -n "$$missing" ]; then \
	    echo "make: build/tsan lacks test executables:" $$missing >&2; \
	    echo "make: add them to the tsan build preset's targets (or, if single-threaded, to TSAN_SKIPPED_BINARIES)" >&2; \
	    exit 1; \
	fi
	$(CTEST) --preset tsan

test: setup
	@failed=""; start=$$(date +%s); \
	for p in $(TEST_PHASES); do \
	    t0=$$(date +%s); \
	    $(MAKE) --no-print-directory build-$$p || { \
	        echo "make test: [$$p] BUILD FAILED after $$(( $$(date +%s) - t0 )) s; stopping"; exit 1; }; \
	    t1=$$(date +%s); \
	    $(MAKE) --no-print-directory ctest-$$p || failed="$$failed $$p"; \
	    t2=$$(date +%s); \
	    echo "make test: [$$p] build $$((t1 - t0)) s, tests $$((t2 - t1)) s"; \
	    times="$$times [$$p] build $$((t1 - t0)) s, tests $$((t2 - t1)) s;"; \
	done; \
	echo "make test: total $$(( $$(date +%s) - start )) s:$$times"; \
	if [ -n "$$failed" ]; then echo "make test: FAILED tests in:$$failed"; exit 1; fi; \
	echo "make test: all phases passed"

fuzz: build-fuzz
	$(MAKE) --no-print-directory ctest-fuzz

release: build-release
	$(MAKE) --no-print-directory ctest-release

asan: build-asan
	$(MAKE) --no-print-directory ctest-asan

tsan: build-tsan
	$(MAKE) --no-print-directory ctest-tsan

format:
	@test -n "$(strip $(FORMAT_FILES))" || { echo "make: no C++ files to format"; exit 0; }; \
	$(CLANG_FORMAT) -i $(FORMAT_FILES)

format-check:
	@test -n "$(strip $(FORMAT_FILES))" || { echo "make: no C++ files to check"; exit 0; }; \
	$(CLANG_FORMAT) --dry-run -Werror $(FORMAT_FILES)

clean:
	rm -rf build

# The C ABI's committed baseline, abi/librelink.abi (docs/packaging.md, "How the ABI is kept"): rebuilds the dev
# preset's librelink.so and writes its ABI. Refused when that would hide an incompatible change under the same
# SONAME (bump RELINK_ABI_VERSION first); `make abi-baseline FORCE=1` overrides, before an ABI is released only.
.PHONY: abi-baseline
abi-baseline: configure-dev
	$(CMAKE) --build --preset dev --target relink_c
	bash scripts/check-abi.sh update build/dev/lib/librelink.so abi/librelink.abi $(if $(FORCE),--force)
