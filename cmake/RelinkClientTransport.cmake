# relink_transport: the client's WebSocket-over-TLS transport (src/client/transport.hpp, issue 4): resolve,
# optional HTTP CONNECT proxy, TCP, TLS with peer and host-name verification (over relink_net's TlsSocketStream),
# WebSocket upgrade, text frames.
# Included from the top-level CMakeLists.txt, in the client section (always built, with or without the server).
# An OBJECT library: transport.o is archived into relink_client (the installed librelink_client.a), never
# installed on its own. Beast is compiled in transport.cpp only; its header includes nothing heavier than Asio's
# any_io_executor.
find_package(Boost 1.81 REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(Threads REQUIRED)

add_library(relink_transport OBJECT ${PROJECT_SOURCE_DIR}/src/client/transport.cpp)
set_target_properties(relink_transport PROPERTIES CXX_STANDARD 20 CXX_STANDARD_REQUIRED ON CXX_EXTENSIONS OFF
                                                  POSITION_INDEPENDENT_CODE ON)
target_include_directories(relink_transport PUBLIC ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/include)
target_link_libraries(relink_transport PUBLIC Boost::headers OpenSSL::SSL OpenSSL::Crypto Threads::Threads)
relink_set_warnings(relink_transport)

# The integration tests: the real Transport against the real relinkd over loopback TLS, through the fault proxy.
if(RELINK_BUILD_TESTS AND RELINK_BUILD_SERVER)
  find_package(GTest REQUIRED)
  include(GoogleTest)
  add_executable(relink_transport_tests ${PROJECT_SOURCE_DIR}/tests/client/transport_test.cpp)
  set_target_properties(relink_transport_tests PROPERTIES CXX_STANDARD 20 CXX_STANDARD_REQUIRED ON
                                                          CXX_EXTENSIONS OFF)
  target_link_libraries(relink_transport_tests PRIVATE relink_transport relink_net relink_faultproxy relink_token
                                                       GTest::gtest GTest::gtest_main)
  target_include_directories(relink_transport_tests PRIVATE ${PROJECT_SOURCE_DIR}/tests)
  add_dependencies(relink_transport_tests relinkd)  # the tests start the relinkd built here
  target_compile_definitions(relink_transport_tests PRIVATE RELINK_BIN_DIR="$<TARGET_FILE_DIR:relinkd>")
  relink_set_warnings(relink_transport_tests)
  gtest_discover_tests(relink_transport_tests PROPERTIES LABELS integration DISCOVERY_TIMEOUT 60)
endif()

# relink::Client end to end against relinkd, through the fault proxy (tests/client/client_test.cpp).
if(RELINK_BUILD_TESTS AND RELINK_BUILD_SERVER)
  add_executable(relink_client_tests ${PROJECT_SOURCE_DIR}/tests/client/client_test.cpp
                                     ${PROJECT_SOURCE_DIR}/tests/client/client_e2e_test.cpp
                                     ${PROJECT_SOURCE_DIR}/tests/client/client_threads_test.cpp
                                     ${PROJECT_SOURCE_DIR}/tests/client/client_settings_test.cpp
                                     ${PROJECT_SOURCE_DIR}/tests/client/client_calls_test.cpp
                                     ${PROJECT_SOURCE_DIR}/tests/client/client_answers_test.cpp
                                     ${PROJECT_SOURCE_DIR}/tests/client/client_tls_resume_test.cpp
                                     ${PROJECT_SOURCE_DIR}/tests/client/client_errors_test.cpp)
  set_target_properties(relink_client_tests PROPERTIES CXX_STANDARD 20 CXX_STANDARD_REQUIRED ON CXX_EXTENSIONS OFF)
  target_include_directories(relink_client_tests PRIVATE ${PROJECT_SOURCE_DIR}/tests)
  target_link_libraries(relink_client_tests PRIVATE relink_client relink_faultproxy relink_token GTest::gtest
                                                    GTest::gtest_main)
  add_dependencies(relink_client_tests relinkd)
  target_compile_definitions(relink_client_tests PRIVATE RELINK_BIN_DIR="$<TARGET_FILE_DIR:relinkd>")
  relink_set_warnings(relink_client_tests)
  gtest_discover_tests(relink_client_tests PROPERTIES LABELS integration DISCOVERY_TIMEOUT 60)
endif()
