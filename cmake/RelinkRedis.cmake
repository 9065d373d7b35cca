# relink_redis: relinkd's Redis client (src/cluster/redis_client.hpp): hiredis 0.14's async API driven by Asio,
# with deadlines, liveness, reconnect with backoff, scripts and pub/sub. Server side only: included from the
# top-level CMakeLists.txt inside if(RELINK_BUILD_SERVER), after OpenSSL and Boost are found. hiredis is private:
# the header does not include it.
find_package(PkgConfig REQUIRED)
pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)

add_library(relink_redis STATIC ${PROJECT_SOURCE_DIR}/src/cluster/redis_client.cpp)
set_target_properties(relink_redis PROPERTIES CXX_STANDARD 20 CXX_STANDARD_REQUIRED ON CXX_EXTENSIONS OFF)
target_include_directories(relink_redis PUBLIC ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(relink_redis PUBLIC Boost::headers PRIVATE relink_core PkgConfig::HIREDIS OpenSSL::Crypto)
relink_set_warnings(relink_redis)
