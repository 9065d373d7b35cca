# CTest `package_consumer`: install this build into a temporary prefix and build + run the consumers of
# tests/package/ against it: with CMake (find_package(relink) with Boost hidden, and with COMPONENTS asio) and with
# pkg-config (relink.pc from C, relink-cpp.pc from C++); tests/package/run.sh says what each proves. Included from
# tests/CMakeLists.txt; needs RELINK_INSTALL.
if(RELINK_INSTALL)
  add_test(NAME package_consumer
           COMMAND bash ${PROJECT_SOURCE_DIR}/tests/package/run.sh ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR})
  set_tests_properties(package_consumer PROPERTIES LABELS package TIMEOUT 300)
endif()
