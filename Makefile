# relink's entry points. `make demo` and `make test` are the two commands of the README; CI runs `make test`
# (.ci/run). Each target installs what is missing (scripts/setup.sh), configures its CMake preset once, builds
# and runs. The presets are in CMakePresets.json; their build trees are build/<preset>/. `make test` runs the dev
# suite, then `make fuzz`: every fuzz target for its time budget under libFuzzer with ASan + UBSan (clang-14,
# only the parsers are built; docs/fuzzing.md).

CMAKE ?= cmake
CTEST ?= ctest
CLANG_FORMAT ?= clang-format

PRESETS := dev release asan tsan fuzz

# C++ sources and headers known to git: tracked, plus new files that are not ignored (so build/ is never touched).
FORMAT_FILES = $(shell git ls-files --cached --others --exclude-standard -- '*.cpp' '*.hpp' 2>/dev/null)

.PHONY: all demo test fuzz release asan tsan setup format format-check clean \
        $(addprefix configure-,$(PRESETS)) $(addprefix build-,$(PRESETS))

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

test: build-dev
	$(CTEST) --preset dev
	$(MAKE) --no-print-directory fuzz

fuzz: build-fuzz
	$(CTEST) --preset fuzz

release: build-release
	$(CTEST) --preset release

asan: build-asan
	$(CTEST) --preset asan

tsan: build-tsan
	$(CTEST) --preset tsan

format:
	@test -n "$(strip $(FORMAT_FILES))" || { echo "make: no C++ files to format"; exit 0; }; \
	$(CLANG_FORMAT) -i $(FORMAT_FILES)

format-check:
	@test -n "$(strip $(FORMAT_FILES))" || { echo "make: no C++ files to check"; exit 0; }; \
	$(CLANG_FORMAT) --dry-run -Werror $(FORMAT_FILES)

clean:
	rm -rf build
