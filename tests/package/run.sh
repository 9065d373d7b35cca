#!/usr/bin/env bash
# Usage: tests/package/run.sh BUILD_DIR SOURCE_DIR
#
# Installs the relink already built in BUILD_DIR into a temporary prefix, then configures, builds and runs the
# consumer project of tests/package/ against that prefix with find_package(relink CONFIG REQUIRED) — the way
# an application would use an installed relink: `consumer` (relink::relink: the vocabulary, and a relink::Client
# logging in to a closed port) and, when relink/asio.hpp is installed, `consumer_asio` (a client on its own
# io_context). Uses Ninja and BUILD_DIR's compiler, build type and global flags (a sanitizer build's objects need
# the sanitizer runtime at link time: the consumer chooses that, the package must not impose it). Also fails if
# the installed package files mention the build or source tree, or carry sanitizer flags in a usage requirement.
# Cleans up after itself. Run by CTest as `package_consumer`.
set -euo pipefail

if [[ $# -ne 2 ]]; then
    echo "usage: $0 BUILD_DIR SOURCE_DIR" >&2
    exit 2
fi
build_dir=$(cd "$1" && pwd)
source_dir=$(cd "$2" && pwd)
cache="$build_dir/CMakeCache.txt"
[[ -f "$cache" ]] || { echo "package: $build_dir is not a configured CMake build directory" >&2; exit 2; }

# The value of a CMake cache entry NAME:TYPE=VALUE in BUILD_DIR (empty when absent).
cache_get() {
    sed -n "s/^$1:[A-Z]*=//p" "$cache" | head -n 1
}

work=$(mktemp -d "${TMPDIR:-/tmp}/relink-package.XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix="$work/prefix"
consumer_build="$work/consumer"

echo "package: installing $build_dir into $prefix"
cmake --install "$build_dir" --prefix "$prefix" >"$work/install.log" || { cat "$work/install.log" >&2; exit 1; }

config=$(find "$prefix" -name relink-config.cmake -print -quit)
[[ -n "$config" ]] || { echo "package: no relink-config.cmake was installed" >&2; exit 1; }
package_dir=$(dirname "$config")
for f in relink-config-version.cmake relinkTargets.cmake; do
    [[ -f "$package_dir/$f" ]] || { echo "package: $f missing beside $config" >&2; exit 1; }
done
# The installed package must be relocatable and must not impose relink's own build flags on its users.
if grep -n -F -e "$build_dir" -e "$source_dir" "$package_dir"/*.cmake >&2; then
    echo "package: the installed package refers to the build or source tree (above)" >&2
    exit 1
fi
if grep -n -e '-fsanitize' -e '-Werror' "$package_dir"/*.cmake >&2; then
    echo "package: the installed package leaks build flags into its usage requirements (above)" >&2
    exit 1
fi

cxx=$(cache_get CMAKE_CXX_COMPILER)
build_type=$(cache_get CMAKE_BUILD_TYPE)
echo "package: building the consumer with ${cxx:-the default compiler} (${build_type:-no build type})"
cmake -S "$source_dir/tests/package" -B "$consumer_build" -G Ninja \
    ${cxx:+"-DCMAKE_CXX_COMPILER=$cxx"} \
    ${build_type:+"-DCMAKE_BUILD_TYPE=$build_type"} \
    "-DCMAKE_CXX_FLAGS=$(cache_get CMAKE_CXX_FLAGS)" \
    "-DCMAKE_EXE_LINKER_FLAGS=$(cache_get CMAKE_EXE_LINKER_FLAGS)" \
    "-DCMAKE_PREFIX_PATH=$prefix" \
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
    -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF \
    >"$work/configure.log" || { cat "$work/configure.log" >&2; exit 1; }

# find_package() must have found the package just installed, not some other relink on the machine.
found=$(sed -n 's/^relink_DIR:[A-Z]*=//p' "$consumer_build/CMakeCache.txt")
if [[ "$found" != "$prefix"/* ]]; then
    echo "package: find_package(relink) found '$found' instead of the package in $prefix" >&2
    exit 1
fi

cmake --build "$consumer_build" >"$work/build.log" || { cat "$work/build.log" >&2; exit 1; }

# The consumers bound their own waits (10 s each); `timeout` also bounds a client destructor that would hang.
echo "package: running the consumer"
timeout --kill-after=5 60 "$consumer_build/consumer"
if [[ -x "$consumer_build/consumer_asio" ]]; then
    echo "package: running the relink/asio.hpp consumer"
    timeout --kill-after=5 60 "$consumer_build/consumer_asio"
else
    echo "package: no relink/asio.hpp installed: the asio consumer was not built"
fi
