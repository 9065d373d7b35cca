# relink_faultproxy: the fault-injecting TCP proxy of the integration tests, demos and benchmarks
# (docs/fault-proxy.md). Test support code: never installed, never part of relink::relink.
# Included from the top-level CMakeLists.txt after cmake/RelinkWarnings.cmake. Its public header includes no Boost;
# Asio is compiled in fault_proxy.cpp only.
find_package(Boost 1.81 REQUIRED)
find_package(Threads REQUIRED)

add_library(relink_faultproxy STATIC ${PROJECT_SOURCE_DIR}/src/faultproxy/fault_proxy.cpp)
set_target_properties(relink_faultproxy PROPERTIES CXX_STANDARD 20 CXX_STANDARD_REQUIRED ON CXX_EXTENSIONS OFF)
target_include_directories(relink_faultproxy PUBLIC ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(relink_faultproxy PRIVATE Boost::headers PUBLIC Threads::Threads)
relink_set_warnings(relink_faultproxy)

if(RELINK_BUILD_TESTS)
  find_package(GTest REQUIRED)
  include(GoogleTest)
  add_executable(relink_faultproxy_tests ${PROJECT_SOURCE_DIR}/tests/faultproxy/fault_proxy_test.cpp)
  set_target_properties(relink_faultproxy_tests PROPERTIES CXX_STANDARD 20 CXX_STANDARD_REQUIRED ON
                                                           CXX_EXTENSIONS OFF)
  target_link_libraries(relink_faultproxy_tests PRIVATE relink_faultproxy GTest::gtest GTest::gtest_main
                                                        Threads::Threads)
  relink_set_warnings(relink_faultproxy_tests)
  gtest_discover_tests(relink_faultproxy_tests PROPERTIES LABELS integration DISCOVERY_TIMEOUT 60)
endif()
