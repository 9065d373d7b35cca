# relink's fuzz targets (docs/fuzzing.md): one libFuzzer target per parser that reads bytes from outside —
# tests/fuzz/fuzz_<name>.cpp, each defining LLVMFuzzerTestOneInput and checking properties, not just "no crash":
#
#   codec    proto::decode_client / decode_server on any frame      (src/protocol/codec.cpp)
#   encode   proto::encode of any message, decoded again             (src/protocol/codec.cpp)
#   token    token::verify on any token, token::mint of any claims   (src/token/token.cpp)
#   options  relinkd's command line and JSON config file             (src/server/options.cpp)
#   cli      relink-cli's command lines                               (src/cli/commands.cpp)
#   websocket relinkd's WebSocket frame reader on any client bytes  (src/protocol/websocket_frames.cpp)
#
# Included at the end of the top-level CMakeLists.txt. Two builds use it:
#  - RELINK_FUZZ=ON (the `fuzz` preset: clang-14, -fsanitize=fuzzer-no-link,address,undefined): the targets linked
#    with libFuzzer, over a library of just the parsers' sources (no Beast, no client, no server), and one CTest
#    entry per target that fuzzes it for RELINK_FUZZ_SECONDS on its seed corpus and regressions
#    (tests/fuzz/run_fuzzer.sh), failing on any crash, property violation, sanitizer report, leak or timeout;
#  - the ordinary build with tests and the server (the `dev` preset, gcc): each target linked with
#    tests/fuzz/replay_main.cpp instead, and one CTest entry that runs every seed and every regression through it
#    once (`fuzz_replay.<name>`, a second or so, no clang needed).
option(RELINK_FUZZ "Build the libFuzzer targets and their timed CTest entries (clang; the fuzz preset)" OFF)
set(RELINK_FUZZ_SECONDS 25 CACHE STRING "How long each fuzz target runs in the test suite, in seconds")

set(RELINK_FUZZ_TARGETS codec encode token options cli websocket)
set(_relink_fuzz_dir ${PROJECT_SOURCE_DIR}/tests/fuzz)

if(RELINK_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "RELINK_FUZZ needs clang (libFuzzer); configure with the `fuzz` preset")
  endif()
  # The parsers and the public vocabulary they use (names, error category, timings), compiled once with the
  # fuzzer's instrumentation (the preset's global flags). Nothing else of relink is built.
  add_library(relink_fuzz_parsers STATIC
    ${PROJECT_SOURCE_DIR}/src/common/encoding.cpp
    ${PROJECT_SOURCE_DIR}/src/common/error.cpp
    ${PROJECT_SOURCE_DIR}/src/common/events.cpp
    ${PROJECT_SOURCE_DIR}/src/common/timings.cpp
    ${PROJECT_SOURCE_DIR}/src/common/types.cpp
    ${PROJECT_SOURCE_DIR}/src/protocol/codec.cpp
    ${PROJECT_SOURCE_DIR}/src/protocol/websocket_frames.cpp
    ${PROJECT_SOURCE_DIR}/src/token/token.cpp
    ${PROJECT_SOURCE_DIR}/src/server/options.cpp
    ${PROJECT_SOURCE_DIR}/src/cli/commands.cpp)
  target_include_directories(relink_fuzz_parsers PUBLIC ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/include)
  target_link_libraries(relink_fuzz_parsers PUBLIC OpenSSL::Crypto nlohmann_json::nlohmann_json relink_command_line)
  set_target_properties(relink_fuzz_parsers PROPERTIES CXX_STANDARD 20 CXX_STANDARD_REQUIRED ON CXX_EXTENSIONS OFF)
  relink_set_warnings(relink_fuzz_parsers)

  enable_testing()
  add_custom_target(relink_fuzzers)  # what the fuzz build preset builds: the targets below and nothing else
  foreach(name IN LISTS RELINK_FUZZ_TARGETS)
    add_executable(fuzz_${name} ${_relink_fuzz_dir}/fuzz_${name}.cpp)
    target_link_libraries(fuzz_${name} PRIVATE relink_fuzz_parsers)
    target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
    set_target_properties(fuzz_${name} PROPERTIES CXX_STANDARD 20 CXX_STANDARD_REQUIRED ON CXX_EXTENSIONS OFF)
    relink_set_warnings(fuzz_${name})
    add_dependencies(relink_fuzzers fuzz_${name})
    add_test(NAME fuzz.${name}
             COMMAND bash ${_relink_fuzz_dir}/run_fuzzer.sh $<TARGET_FILE:fuzz_${name}> ${name}
                     ${RELINK_FUZZ_SECONDS} ${PROJECT_BINARY_DIR}/fuzz-work)
    math(EXPR _relink_fuzz_timeout "${RELINK_FUZZ_SECONDS} + 180")
    set_tests_properties(fuzz.${name} PROPERTIES LABELS fuzz TIMEOUT ${_relink_fuzz_timeout})
  endforeach()
elseif(RELINK_BUILD_TESTS AND RELINK_BUILD_SERVER)
  # The gcc replay of the corpora and regressions: the parsers are the libraries relinkd and relink-cli are built
  # from (CMakeLists.txt), not compiled again.
  add_library(relink_fuzz_parsers INTERFACE)
  target_include_directories(relink_fuzz_parsers INTERFACE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/include)
  target_link_libraries(relink_fuzz_parsers INTERFACE relink_server_options relink_cli_commands relink_protocol
                                                      relink_token relink_core OpenSSL::Crypto
                                                      nlohmann_json::nlohmann_json relink_command_line)

  add_library(relink_fuzz_replay_main OBJECT ${_relink_fuzz_dir}/replay_main.cpp)  # compiled once for all targets
  set_target_properties(relink_fuzz_replay_main PROPERTIES CXX_STANDARD 20 CXX_STANDARD_REQUIRED ON
                                                           CXX_EXTENSIONS OFF)
  relink_set_warnings(relink_fuzz_replay_main)

  foreach(name IN LISTS RELINK_FUZZ_TARGETS)
    add_executable(fuzz_replay_${name} ${_relink_fuzz_dir}/fuzz_${name}.cpp)
    target_link_libraries(fuzz_replay_${name} PRIVATE relink_fuzz_replay_main relink_fuzz_parsers)
    set_target_properties(fuzz_replay_${name} PROPERTIES CXX_STANDARD 20 CXX_STANDARD_REQUIRED ON CXX_EXTENSIONS OFF)
    relink_set_warnings(fuzz_replay_${name})
    add_test(NAME fuzz_replay.${name}
             COMMAND fuzz_replay_${name} ${_relink_fuzz_dir}/corpus/${name} ${_relink_fuzz_dir}/regressions/${name})
    set_tests_properties(fuzz_replay.${name} PROPERTIES LABELS "fuzz;replay" TIMEOUT 120)
  endforeach()
endif()
