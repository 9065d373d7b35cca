# The C library's binary interface (label `abi`; docs/packaging.md, "How the ABI is kept"). Included from
# tests/CMakeLists.txt.
#   c_library_exports         librelink.so exports only relink_* symbols, every function relink.h declares, and has
#                             the SONAME librelink.so.<RELINK_ABI_VERSION> (nm -D, readelf -d)
#   abi_baseline              the built librelink.so keeps the ABI of the committed baseline abi/librelink.abi
#                             (abidiff; scripts/check-abi.sh)
#   abi_check_catches_breaks  scripts/check-abi.sh fails on deliberate breaks and passes compatible changes
# The abigail tests need abigail-tools (scripts/setup.sh installs it) and a library with debug info; in a build
# without -g (a Release build) abi_baseline is not registered: abidw has nothing to read there.
add_test(NAME c_library_exports
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/abi/check_exports.sh $<TARGET_FILE:relink_c> ${PROJECT_SOURCE_DIR})
set_tests_properties(c_library_exports PROPERTIES LABELS abi TIMEOUT 60)

string(TOUPPER "${CMAKE_BUILD_TYPE}" _relink_abi_build_type)
if(CMAKE_BUILD_TYPE AND NOT _relink_abi_build_type MATCHES "^(DEBUG|RELWITHDEBINFO)$")
  message(STATUS "abi_baseline: not registered (build type ${CMAKE_BUILD_TYPE} has no debug info for abidw)")
else()
  add_test(NAME abi_baseline
           COMMAND bash ${PROJECT_SOURCE_DIR}/scripts/check-abi.sh check $<TARGET_FILE:relink_c>
                   ${PROJECT_SOURCE_DIR}/abi/librelink.abi)
  set_tests_properties(abi_baseline PROPERTIES LABELS abi TIMEOUT 120)
endif()

add_test(NAME abi_check_catches_breaks
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/abi/check_abi_catches_breaks.sh ${PROJECT_SOURCE_DIR})
set_tests_properties(abi_check_catches_breaks PROPERTIES LABELS abi TIMEOUT 120)
