# relink_c: librelink.so, the C API of include/relink/relink.h (docs/c-api.md) — the stable ABI every binding sits
# on. A shared library whose SONAME carries the ABI major version (librelink.so.1), built from the static client
# (compiled position-independent for this), exporting only the relink_* functions: everything else is hidden, so
# the C++ inside (Boost, OpenSSL's users, nlohmann_json, the C++ standard library's templates) never clashes with
# what the app links.
set(RELINK_ABI_VERSION 1)  # keep equal to RELINK_ABI_VERSION in include/relink/relink.h

add_library(relink_c SHARED src/capi/relink_c.cpp src/capi/client_c.cpp)
add_library(relink::c ALIAS relink_c)
set_target_properties(relink_c PROPERTIES
  OUTPUT_NAME relink
  VERSION "${PROJECT_VERSION}"
  SOVERSION "${RELINK_ABI_VERSION}"
  CXX_STANDARD 20 CXX_STANDARD_REQUIRED ON CXX_EXTENSIONS OFF
  CXX_VISIBILITY_PRESET hidden
  VISIBILITY_INLINES_HIDDEN ON
  LIBRARY_OUTPUT_DIRECTORY "${PROJECT_BINARY_DIR}/lib"
  EXPORT_NAME c)
target_compile_definitions(relink_c PRIVATE RELINK_C_BUILDING RELINK_VERSION_STRING="${PROJECT_VERSION}")
target_include_directories(relink_c
  PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include> $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>
  PRIVATE ${PROJECT_SOURCE_DIR}/src)
# The static archives' own symbols must not leak through the shared library either: --exclude-libs hides every
# symbol that comes from a linked archive, and the version script keeps only relink_*.
target_link_options(relink_c PRIVATE "LINKER:--exclude-libs,ALL"
                    "LINKER:--version-script=${PROJECT_SOURCE_DIR}/src/capi/relink.map" "LINKER:--no-undefined")
set_property(TARGET relink_c APPEND PROPERTY LINK_DEPENDS "${PROJECT_SOURCE_DIR}/src/capi/relink.map")
target_link_libraries(relink_c PRIVATE relink_client relink_core)
relink_set_warnings(relink_c)
