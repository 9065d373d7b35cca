# relink's install rules and CMake package (included from the top-level CMakeLists.txt when RELINK_INSTALL).
#
# Installs relink::core (the sans-IO static library) and relink::relink (what users link), the public
# headers of include/relink/, and a config package so that a consumer can write
#     find_package(relink CONFIG REQUIRED)
#     target_link_libraries(app PRIVATE relink::relink)
# Only usage requirements declared PUBLIC/INTERFACE are exported: warnings, sanitizers and the private src/
# include directory stay inside relink's own build. tests/package/ builds a consumer against the installed
# tree to keep this honest.
#
# GNUInstallDirs is included at the top of CMakeLists.txt, before relink_core is defined, because the target's
# $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}> is expanded when the target is declared.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(RELINK_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/relink"
    CACHE STRING "Where relink's CMake package files are installed (relative to the prefix)")
mark_as_advanced(RELINK_INSTALL_CMAKEDIR)

# No INCLUDES DESTINATION: relink_core declares $<INSTALL_INTERFACE:include> itself (it would appear twice), and
# relink::relink gets it from relink::core.
install(TARGETS relink_core relink
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
