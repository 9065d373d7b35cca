#!/usr/bin/env bash
# Fails if the sans-IO core (src/core, src/protocol, src/common) reaches for I/O, a clock, threads, locks,
# logging, randomness from the OS, or any of the libraries that belong to the driver (Boost, OpenSSL, spdlog).
# The CMake target links nothing (checked at configure time); this checks what its sources include and call.
# The server's state machines are held to the same rule: the hub and the shared-state boundary with its in-memory
# store (src/cluster holds the Redis client too, which is I/O, so those files are named one by one).
set -euo pipefail
src="${1:?usage: check_sans_io.sh SOURCE_DIR}"
dirs=("$src/src/core" "$src/src/protocol" "$src/src/common" "$src/src/server/hub.hpp" "$src/src/server/hub.cpp"
      "$src/src/cluster/store.hpp" "$src/src/cluster/deadlines.hpp" "$src/src/cluster/memory_store.hpp"
      "$src/src/cluster/memory_store.cpp")
pattern='#include *[<"](boost/|openssl/|spdlog/|asio|thread>|mutex>|shared_mutex>|condition_variable>|future>|iostream>|fstream>|cstdio>|ctime>|sys/|unistd\.h|netinet/|arpa/)'
pattern+='|(steady_clock|system_clock|high_resolution_clock)::now|std::random_device|std::this_thread|printf\(|std::cout|std::cerr|getenv'
if hits=$(grep -rnE "$pattern" "${dirs[@]}" --include='*.hpp' --include='*.cpp'); then
    echo "core_is_sans_io: forbidden include or call in the sans-IO core:"
    echo "$hits"
    exit 1
fi
count=$(find "${dirs[@]}" -name '*.cpp' -o -name '*.hpp' | wc -l)
if [ "$count" -lt 5 ]; then
    echo "core_is_sans_io: expected the core's sources under ${dirs[*]}, found $count files"
    exit 1
fi
echo "core_is_sans_io: $count files checked, none reaches for I/O, clocks, threads, locks or logging"
