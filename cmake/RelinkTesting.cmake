# relink_testing (relink::testing): the test kit for apps, relink/testing.hpp (docs/testing-apps.md). A static library
# of relink::testing::World — relink's simulated world with relinkd's sans-IO hub as its server — hosting the
# production relink::Client through its one seam for a host (src/client/client_internals.hpp). The simulation's
# objects (src/sim/, the hub, the in-memory store: relink_sim's and relink_hub's, compiled once for those libraries and
# archived here too) are in it, so the installed librelink_testing.a needs only relink::relink; the codec they use is
# the one archived in librelink_client.a. Installed in an export set of
# its own, loaded only by find_package(relink COMPONENTS testing) (cmake/RelinkInstall.cmake). C++ only: the kit has
# no C API.
option(RELINK_BUILD_TESTING_KIT "Build relink::testing, the test kit for apps (relink/testing.hpp)" ON)
if(NOT RELINK_BUILD_TESTING_KIT)
  return()
endif()

add_library(relink_testing STATIC
  src/testing/world.cpp
  src/testing/print.cpp
  $<TARGET_OBJECTS:relink_sim>
  $<TARGET_OBJECTS:relink_hub>)
add_library(relink::testing ALIAS relink_testing)
set_target_properties(relink_testing PROPERTIES CXX_STANDARD 20 CXX_STANDARD_REQUIRED ON CXX_EXTENSIONS OFF
                                                POSITION_INDEPENDENT_CODE ON EXPORT_NAME testing)
target_include_directories(relink_testing PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(relink_testing PUBLIC relink)
relink_set_warnings(relink_testing)
