# relink_bench_common (bench/common/): what the benchmark programs share, one copy each: percentiles and the
# shared JSON result format (relink-bench, peer-bench), /proc readers and the open-files limit (every program that
# measures a process), relinkd's listening line and admin /metrics (relink-bench, relinkd-bench). Included from the
# top-level CMakeLists.txt before the benchmark programs; never installed.
if(RELINK_BUILD_BENCHMARKS OR RELINK_BUILD_PEER_BENCH)
  add_library(relink_bench_common STATIC
    ${PROJECT_SOURCE_DIR}/bench/common/stats.cpp
    ${PROJECT_SOURCE_DIR}/bench/common/results_json.cpp
    ${PROJECT_SOURCE_DIR}/bench/common/proc.cpp
    ${PROJECT_SOURCE_DIR}/bench/common/admin_metrics.cpp
    ${PROJECT_SOURCE_DIR}/bench/common/listening_line.cpp
    ${PROJECT_SOURCE_DIR}/bench/common/loopback.cpp)
  set_target_properties(relink_bench_common PROPERTIES CXX_STANDARD 20 CXX_STANDARD_REQUIRED ON CXX_EXTENSIONS OFF)
  # Users include "common/stats.hpp" and so on.
  target_include_directories(relink_bench_common PUBLIC ${PROJECT_SOURCE_DIR}/bench)
  target_link_libraries(relink_bench_common PUBLIC nlohmann_json::nlohmann_json)
  relink_set_warnings(relink_bench_common)
endif()
