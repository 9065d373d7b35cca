# relink's install rules, its CMake package and its pkg-config files (included from the top-level CMakeLists.txt when
# RELINK_INSTALL). docs/packaging.md is the user's side of this file.
#
# Installs, in the export set relinkTargets (namespace relink::):
#   relink::relink — what C++ apps link: an INTERFACE target over the two static libraries below
#   relink::client — librelink_client.a: relink::Client with the JSON codec and the Beast/OpenSSL transport
#                    archived in (relink_protocol and relink_transport are OBJECT libraries, never installed)
#   relink::core   — librelink_core.a: the sans-IO state machine and the public vocabulary (links nothing)
#   relink::c      — librelink.so.<ABI major> (and its librelink.so link): the C API of relink/relink.h
# and, in the export set relinkAsioTargets, loaded only by find_package(relink COMPONENTS asio):
#   relink::asio   — relink::relink plus Boost::headers, for apps that include relink/asio.hpp
# and, in the export set relinkTestingTargets, loaded only by find_package(relink COMPONENTS testing) (when built:
# RELINK_BUILD_TESTING_KIT):
#   relink::testing — librelink_testing.a: the test kit for apps' unit tests, relink/testing.hpp (needs no Boost)
# the public headers of include/relink/ (the C++ *.hpp and the C relink.h), the config package, so that a consumer
# can write
#     find_package(relink CONFIG REQUIRED)                   # no Boost needed
#     target_link_libraries(app PRIVATE relink::relink)      # or relink::c
# and two pkg-config files: relink.pc (the C API: -lrelink) and relink-cpp.pc (the static C++ SDK).
# relink-config.cmake finds what the static client needs at link time (OpenSSL, Threads) and Boost only for the
# asio component. nlohmann_json is used privately by the codec and is not a dependency.
# Only usage requirements declared PUBLIC/INTERFACE are exported: warnings, sanitizers, the private src/ include
# directory, Boost and the OBJECT libraries ($<BUILD_INTERFACE:...> in relink_client's links) stay inside relink's
# own build. tests/package/ builds and runs consumers against the installed tree (CMake with and without Boost,
# pkg-config from C and C++) to keep this honest.
#
# GNUInstallDirs is included at the top of CMakeLists.txt, before relink_core is defined, because the target's
# $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}> is expanded when the target is declared.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(RELINK_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/relink"
    CACHE STRING "Where relink's CMake package files are installed (relative to the prefix)")
mark_as_advanced(RELINK_INSTALL_CMAKEDIR)

# No INCLUDES DESTINATION: relink_core declares $<INSTALL_INTERFACE:include> itself (it would appear twice), and
# relink::client and relink::relink get it from relink::core.
# librelink.so goes beside the static libraries with its SONAME link (librelink.so.1) and its development link
# (librelink.so, what -lrelink finds).
install(TARGETS relink_core relink_client relink relink_c
  EXPORT relinkTargets
  ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}"
  LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}"
  RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}")
install(TARGETS relink_asio EXPORT relinkAsioTargets)
if(TARGET relink_testing)
  install(TARGETS relink_testing EXPORT relinkTestingTargets ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}")
endif()

# The public headers: the C++ *.hpp and the C API's relink.h. (When a generated export header arrives it is
# installed beside them, from the build tree.)
install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/relink/"
  DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/relink"
  FILES_MATCHING PATTERN "*.hpp" PATTERN "*.h")

install(EXPORT relinkTargets
  NAMESPACE relink::
  FILE relinkTargets.cmake
  DESTINATION "${RELINK_INSTALL_CMAKEDIR}")
install(EXPORT relinkAsioTargets
  NAMESPACE relink::
  FILE relinkAsioTargets.cmake
  DESTINATION "${RELINK_INSTALL_CMAKEDIR}")
if(TARGET relink_testing)
  install(EXPORT relinkTestingTargets
    NAMESPACE relink::
    FILE relinkTestingTargets.cmake
    DESTINATION "${RELINK_INSTALL_CMAKEDIR}")
endif()

configure_package_config_file(
  "${PROJECT_SOURCE_DIR}/cmake/relink-config.cmake.in"
  "${PROJECT_BINARY_DIR}/relink-config.cmake"
  INSTALL_DESTINATION "${RELINK_INSTALL_CMAKEDIR}")

# find_package(relink 0.1) accepts any 0.y with y >= 1. Note that before 1.0 a minor release may still change the API.
write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/relink-config-version.cmake"
  VERSION "${PROJECT_VERSION}"
  COMPATIBILITY SameMajorVersion)

install(FILES
  "${PROJECT_BINARY_DIR}/relink-config.cmake"
  "${PROJECT_BINARY_DIR}/relink-config-version.cmake"
  DESTINATION "${RELINK_INSTALL_CMAKEDIR}")

# pkg-config: relink.pc (the C API in librelink.so) and relink-cpp.pc (the static C++ SDK). Both are relocatable:
# their prefix is ${pcfiledir} (the directory pkg-config found the file in) walked back to the install prefix, so
# a prefix that is moved, or installed with `cmake --install --prefix`, still works.
set(RELINK_PC_LIBDIR "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}" OR IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  # Absolute directories chosen at configure time: written as they are (such a prefix cannot move).
  set(RELINK_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  set(RELINK_PC_LIBDIR_VALUE "${CMAKE_INSTALL_FULL_LIBDIR}")
  set(RELINK_PC_INCLUDEDIR_VALUE "${CMAKE_INSTALL_FULL_INCLUDEDIR}")
else()
  file(RELATIVE_PATH _relink_pc_up "/relink-prefix/${RELINK_PC_LIBDIR}" "/relink-prefix")
  string(REGEX REPLACE "/$" "" _relink_pc_up "${_relink_pc_up}")
  set(RELINK_PC_PREFIX "\${pcfiledir}/${_relink_pc_up}")
  set(RELINK_PC_LIBDIR_VALUE "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
  set(RELINK_PC_INCLUDEDIR_VALUE "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
foreach(pc relink relink-cpp)
  configure_file("${PROJECT_SOURCE_DIR}/cmake/${pc}.pc.in" "${PROJECT_BINARY_DIR}/${pc}.pc" @ONLY)
  install(FILES "${PROJECT_BINARY_DIR}/${pc}.pc" DESTINATION "${RELINK_PC_LIBDIR}")
endforeach()
