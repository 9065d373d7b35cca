#!/usr/bin/env bash
# Usage: tests/package/run.sh BUILD_DIR SOURCE_DIR
#
# Installs the relink already built in BUILD_DIR into a temporary prefix, then builds and runs consumers against
# that prefix the way applications use an installed relink (docs/packaging.md):
#   - CMake, plain find_package(relink CONFIG REQUIRED) with Boost hidden (CMAKE_DISABLE_FIND_PACKAGE_Boost, and
#     Boost_DIR / BOOST_ROOT pointing nowhere): `consumer` (relink::relink: the vocabulary, and a relink::Client
#     logging in to a closed port), `consumer_c` (relink::c: the C API from C99) and `consumer_testing` (COMPONENTS
#     testing, relink::testing: a client on the test kit's virtual clock) must configure, build without reading a
#     single Boost header, and run;
#   - the control: find_package(relink COMPONENTS asio) under the same hiding must fail to configure (so the hiding
#     works, and only the asio component needs Boost);
#   - CMake with Boost and COMPONENTS asio: `consumer_asio` (relink::asio: a client on its own io_context) runs;
#   - pkg-config: the C consumer built with `cc $(pkg-config --cflags --libs relink)` and the C++ consumer built with
#     `c++ $(pkg-config --cflags --libs relink-cpp)` run (PKG_CONFIG_PATH into the prefix, an rpath for librelink.so).
# Uses Ninja and BUILD_DIR's compiler, build type and global flags (a sanitizer build's objects need the sanitizer
# runtime at link time: the consumer chooses that, the package must not impose it). Also fails if the installed
# package files mention the build or source tree, or carry sanitizer flags in a usage requirement.
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

echo "package: installing $build_dir into $prefix"
cmake --install "$build_dir" --prefix "$prefix" >"$work/install.log" || { cat "$work/install.log" >&2; exit 1; }

config=$(find "$prefix" -name relink-config.cmake -print -quit)
[[ -n "$config" ]] || { echo "package: no relink-config.cmake was installed" >&2; exit 1; }
package_dir=$(dirname "$config")
for f in relink-config-version.cmake relinkTargets.cmake relinkAsioTargets.cmake relinkTestingTargets.cmake; do
    [[ -f "$package_dir/$f" ]] || { echo "package: $f missing beside $config" >&2; exit 1; }
done
libdir=$(cd "$(dirname "$package_dir")/.." && pwd)
pc_dir="$libdir/pkgconfig"
abi_version=$(sed -n 's/^#define RELINK_ABI_VERSION \([0-9][0-9]*\).*/\1/p' "$source_dir/include/relink/relink.h")
for f in "$pc_dir/relink.pc" "$pc_dir/relink-cpp.pc" "$libdir/librelink.so" "$libdir/librelink.so.$abi_version" \
         "$prefix/include/relink/relink.h" "$prefix/include/relink/client.hpp" "$prefix/include/relink/testing.hpp" \
         "$libdir/librelink_testing.a"; do
    [[ -e "$f" ]] || { echo "package: ${f#"$prefix"/} was not installed" >&2; exit 1; }
done
# The installed package must be relocatable and must not impose relink's own build flags on its users.
if grep -n -F -e "$build_dir" -e "$source_dir" "$package_dir"/*.cmake "$pc_dir"/relink*.pc >&2; then
    echo "package: the installed package refers to the build or source tree (above)" >&2
    exit 1
fi
if grep -n -e '-fsanitize' -e '-Werror' "$package_dir"/*.cmake "$pc_dir"/relink*.pc >&2; then
    echo "package: the installed package leaks build flags into its usage requirements (above)" >&2
    exit 1
fi

cxx=$(cache_get CMAKE_CXX_COMPILER)
cc=$(cache_get CMAKE_C_COMPILER)
cc=${cc:-cc}
build_type=$(cache_get CMAKE_BUILD_TYPE)
cxx_flags=$(cache_get CMAKE_CXX_FLAGS)
exe_linker_flags=$(cache_get CMAKE_EXE_LINKER_FLAGS)
no_boost="$work/no-boost"  # where Boost_DIR and BOOST_ROOT point when Boost is hidden: an empty directory
mkdir -p "$no_boost"
hide_boost=(-DCMAKE_DISABLE_FIND_PACKAGE_Boost=TRUE "-DBoost_DIR=$no_boost" "-DBOOST_ROOT=$no_boost")

# configure NAME ARGS...: configures tests/package/ into $work/NAME (log: $work/NAME.log); returns cmake's status.
configure() {
    local name=$1
    shift
    cmake -S "$source_dir/tests/package" -B "$work/$name" -G Ninja \
        ${cxx:+"-DCMAKE_CXX_COMPILER=$cxx"} \
        "-DCMAKE_C_COMPILER=$cc" \
        ${build_type:+"-DCMAKE_BUILD_TYPE=$build_type"} \
        "-DCMAKE_CXX_FLAGS=$cxx_flags" \
        "-DCMAKE_C_FLAGS=$cxx_flags" \
        "-DCMAKE_EXE_LINKER_FLAGS=$exe_linker_flags" \
        "-DCMAKE_PREFIX_PATH=$prefix" \
        -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
        -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF \
        "$@" >"$work/$name.log" 2>&1
}

# found_here NAME: find_package() must have found the package just installed, not some other relink on the machine.
found_here() {
    local found
    found=$(sed -n 's/^relink_DIR:[A-Z]*=//p' "$work/$1/CMakeCache.txt")
    if [[ "$found" != "$prefix"/* ]]; then
        echo "package: find_package(relink) found '$found' instead of the package in $prefix" >&2
        exit 1
    fi
}

# build NAME TARGETS...
build() {
    local name=$1
    shift
    cmake --build "$work/$name" --target "$@" >"$work/$name-build.log" 2>&1 ||
        { cat "$work/$name-build.log" >&2; exit 1; }
}

# The consumers bound their own waits (10 s each); `timeout` also bounds a client destructor that would hang.
run() {
    echo "package: running $*"
    timeout --kill-after=5 60 "$@"
}

echo "package: building the consumers with ${cxx:-the default compiler} and $cc (${build_type:-no build type})"

# 1. Plain find_package(relink), Boost hidden: relink::relink and relink::c configure, build and run.
configure without-boost -DRELINK_CONSUMER_ASIO=OFF "${hide_boost[@]}" ||
    { cat "$work/without-boost.log" >&2; echo "package: find_package(relink) needs Boost (above)" >&2; exit 1; }
found_here without-boost
build without-boost consumer consumer_c consumer_testing
# Not one Boost header was read to compile them (ninja's record of every object's header dependencies).
if ninja -C "$work/without-boost" -t deps | grep -n '/boost/' >&2; then
    echo "package: the consumers without Boost included Boost headers (above)" >&2
    exit 1
fi
echo "package: find_package(relink) with Boost hidden: configured and built without a Boost header"
run "$work/without-boost/consumer"
run "$work/without-boost/consumer_c"
run "$work/without-boost/consumer_testing"

# 2. The control: the asio component needs Boost, so under the same hiding it must fail to configure. (If this
#    configured, the hiding above would prove nothing.)
if configure asio-without-boost -DRELINK_CONSUMER_ASIO=ON "${hide_boost[@]}"; then
    echo "package: find_package(relink COMPONENTS asio) configured with Boost hidden: the hiding does not work" >&2
    exit 1
fi
if ! grep -q 'Boost' "$work/asio-without-boost.log"; then
    cat "$work/asio-without-boost.log" >&2
    echo "package: find_package(relink COMPONENTS asio) failed with Boost hidden, but not for Boost (above)" >&2
    exit 1
fi
echo "package: find_package(relink COMPONENTS asio) with Boost hidden fails, as it must:"
grep -m 3 -A 2 'Boost' "$work/asio-without-boost.log" | sed 's/^/    | /'

# 3. With Boost: find_package(relink COMPONENTS asio) and relink::asio.
configure with-boost -DRELINK_CONSUMER_ASIO=ON || { cat "$work/with-boost.log" >&2; exit 1; }
found_here with-boost
build with-boost consumer_asio
run "$work/with-boost/consumer_asio"

# 4. pkg-config, from C (relink.pc: librelink.so) and from C++ (relink-cpp.pc: the static libraries).
export PKG_CONFIG_PATH="$pc_dir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
pc_found=$(pkg-config --variable=pcfiledir relink)
if [[ "$(cd "$pc_found" && pwd)" != "$pc_dir" ]]; then
    echo "package: pkg-config found relink.pc in '$pc_found' instead of $pc_dir" >&2
    exit 1
fi
echo "package: pkg-config --cflags --libs relink: $(pkg-config --cflags --libs relink)"
rpath=$(pkg-config --variable=libdir relink)
# shellcheck disable=SC2046,SC2086  # pkg-config's output and the build's flags are word lists
"$cc" -std=c99 -Wall -Wextra -pedantic -Werror -D_POSIX_C_SOURCE=200809L $cxx_flags \
    -o "$work/pkg-config-c" "$source_dir/tests/package/c_consumer.c" $(pkg-config --cflags --libs relink) \
    "-Wl,-rpath,$rpath" $exe_linker_flags
run "$work/pkg-config-c"
echo "package: pkg-config --cflags --libs relink-cpp: $(pkg-config --cflags --libs relink-cpp)"
# shellcheck disable=SC2046,SC2086
"${cxx:-c++}" -std=c++17 -Wall -Wextra -Werror $cxx_flags -o "$work/pkg-config-cpp" \
    "$source_dir/tests/package/main.cpp" $(pkg-config --cflags --libs relink-cpp) $exe_linker_flags
run "$work/pkg-config-cpp"
echo "package: every consumer ran"
