# relink-bench: the load tool of issue 7 (docs/performance.md). Included from the top-level CMakeLists.txt after
# the server targets; never installed. N relink::Client sessions in one process on shared io_contexts against a
# relinkd child process, faults through relink_faultproxy; also `relink-bench compare` and `relink-bench chart`.
# Asio is compiled in the scenarios_*.cpp files only (the rest is plain C++ and compiles fast).
if(RELINK_BUILD_SERVER AND RELINK_BUILD_BENCHMARKS)
  add_executable(relink-bench
    ${PROJECT_SOURCE_DIR}/bench/relink_bench/main.cpp
    ${PROJECT_SOURCE_DIR}/bench/relink_bench/results.cpp
    ${PROJECT_SOURCE_DIR}/bench/relink_bench/chart.cpp
    ${PROJECT_SOURCE_DIR}/bench/relink_bench/server.cpp
    ${PROJECT_SOURCE_DIR}/bench/relink_bench/scenarios_load.cpp
    ${PROJECT_SOURCE_DIR}/bench/relink_bench/scenarios_overload.cpp
    ${PROJECT_SOURCE_DIR}/bench/relink_bench/scenarios_faults.cpp)
  set_target_properties(relink-bench PROPERTIES CXX_STANDARD 20 CXX_STANDARD_REQUIRED ON CXX_EXTENSIONS OFF)
  # tests/ for support/redis_process.hpp: the redis-server child of a cluster run, the one the tests use.
  target_include_directories(relink-bench PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
  # relink_server only for its self-signed certificate generator (server/tls.hpp): one certificate per run.
  # relink_command_line: the flags as every relink executable reads them (src/cli/command_line.hpp).
  target_link_libraries(relink-bench PRIVATE relink_client relink_faultproxy relink_token relink_server
                                             relink_command_line relink_bench_common Boost::headers
                                             nlohmann_json::nlohmann_json Threads::Threads)
  add_dependencies(relink-bench relinkd)  # it starts the relinkd next to it
  relink_set_warnings(relink-bench)

  # The smoke test (label `bench`, well under 45 s): tiny sizes of four scenarios and a tiny cluster run (one
  # relinkd, then two nodes on a redis-server child), then the JSON is checked for its shape and the shared metric
  # names, so the tool cannot rot. Timings are never asserted.
  if(RELINK_BUILD_TESTS)
    add_test(NAME relink_bench_smoke
             COMMAND ${CMAKE_COMMAND} -DBENCH=$<TARGET_FILE:relink-bench>
                     -DOUT=${CMAKE_CURRENT_BINARY_DIR}/relink_bench_smoke
                     -P ${PROJECT_SOURCE_DIR}/bench/relink_bench/smoke_test.cmake)
    set_tests_properties(relink_bench_smoke PROPERTIES LABELS bench TIMEOUT 45)
  endif()
endif()
