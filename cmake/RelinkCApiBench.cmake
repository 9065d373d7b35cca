# relink-capi-bench (bench/capi/): the C API's overhead next to the C++ API, events per second and peer-message round
# trips through relink::Client and through relink.h against a relinkd child (docs/benchmarks.md). Included from the
# top-level CMakeLists.txt; never installed. No test of its timings (never asserted); command_line_flags checks its
# command line with one tiny run (tests/cli/flags_test.sh).
if(RELINK_BUILD_SERVER AND RELINK_BUILD_BENCHMARKS)
  add_executable(relink-capi-bench ${PROJECT_SOURCE_DIR}/bench/capi/capi_bench.cpp)
  set_target_properties(relink-capi-bench PROPERTIES CXX_STANDARD 20 CXX_STANDARD_REQUIRED ON CXX_EXTENSIONS OFF)
  # tests/ for support/relinkd_process.hpp (relinkd as a child process, the one the tests use).
  target_include_directories(relink-capi-bench PRIVATE ${PROJECT_SOURCE_DIR}/tests)
  # Both APIs in one program: the static C++ client and librelink.so, whose own copy of the client is hidden.
  # relink_command_line: the flags as every relink executable reads them (src/cli/command_line.hpp).
  target_link_libraries(relink-capi-bench PRIVATE relink_client relink_c relink_token relink_bench_common
                                                  relink_command_line Threads::Threads)
  add_dependencies(relink-capi-bench relinkd)  # it starts the relinkd next to it
  relink_set_warnings(relink-capi-bench)
endif()
