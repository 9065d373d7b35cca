# relink's install rules and CMake package (included from the top-level CMakeLists.txt when RELINK_INSTALL).
#
# Installs, in the export set relinkTargets (namespace relink::):
#   relink::relink — what users link: an INTERFACE target over the two libraries below
#   relink::client — librelink_client.a: relink::Client with the JSON codec and the Beast/OpenSSL transport
#                    archived in (relink_protocol and relink_transport are OBJECT libraries, never installed)
#   relink::core   — librelink_core.a: the sans-IO state machine and the public vocabulary (links nothing)
# the public headers of include/relink/ (relink/asio.hpp, the opt-in io_context header, among them), and a config
# package so that a consumer can write
#     find_package(relink CONFIG REQUIRED)
#     target_link_libraries(app PRIVATE relink::relink)
# relink-config.cmake finds what the static client needs at link time (OpenSSL, Threads) and Boost (header-only;
# relink/asio.hpp includes it). nlohmann_json is used privately by the codec and is not a dependency.
# Only usage requirements declared PUBLIC/INTERFACE are exported: warnings, sanitizers, the private src/ include
# directory and the OBJECT libraries ($<BUILD_INTERFACE:...> in relink_client's links) stay inside relink's own
# build. tests/package/ builds and runs a relink::Client consumer against the installed tree to keep this honest.
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
install(TARGETS relink_core relink_client relink
  EXPORT relinkTargets
  ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}"
  LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}"
  RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}")

# The public headers. (When a generated export header arrives it is installed beside them, from the build tree.)
install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/relink/"
  DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/relink"
  FILES_MATCHING PATTERN "*.hpp")

install(EXPORT relinkTargets
  NAMESPACE relink::
  FILE relinkTargets.cmake
  DESTINATION "${RELINK_INSTALL_CMAKEDIR}")

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
