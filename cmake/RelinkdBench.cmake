# relinkd-bench: relinkd's memory per idle TLS session and its logins per second (issue 3), measured by driving a
# real relinkd process over loopback TLS (docs/benchmarks.md, "relinkd: memory per idle TLS session and logins per
# second"). A program, not a Google Benchmark: it starts relinkd, reads its RSS from /proc and prints a table.
# Included from the top-level CMakeLists.txt after the server targets; never installed.
if(RELINK_BUILD_SERVER AND RELINK_BUILD_BENCHMARKS)
  add_executable(relinkd-bench ${PROJECT_SOURCE_DIR}/bench/relinkd_bench.cpp)
  set_target_properties(relinkd-bench PROPERTIES CXX_STANDARD 20 CXX_STANDARD_REQUIRED ON CXX_EXTENSIONS OFF)
  target_include_directories(relinkd-bench PRIVATE ${PROJECT_SOURCE_DIR}/tests)  # support/child_process.hpp
  # relink_command_line: the flags as every relink executable reads them (src/cli/command_line.hpp).
  target_link_libraries(relinkd-bench PRIVATE relink_protocol relink_token relink_bench_common relink_command_line
                                              Boost::headers OpenSSL::SSL OpenSSL::Crypto Threads::Threads)
  add_dependencies(relinkd-bench relinkd)  # it starts the relinkd next to it unless told --relinkd PATH
  relink_set_warnings(relinkd-bench)
endif()
