# CTest `public_headers_cxx17`: each public header compiles alone as C++17 with -Wall -Wextra -Werror, and no
# public header includes Boost or spdlog, except the opt-in relink/asio.hpp, which may include Boost and is
# compiled with Boost's include directories (tests/package/check_headers.sh). Included from tests/CMakeLists.txt,
# after the top-level CMakeLists.txt has found Boost.
add_test(NAME public_headers_cxx17
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/package/check_headers.sh ${PROJECT_SOURCE_DIR} ${CMAKE_CXX_COMPILER}
                 "$<TARGET_PROPERTY:Boost::headers,INTERFACE_INCLUDE_DIRECTORIES>")
set_tests_properties(public_headers_cxx17 PROPERTIES LABELS "package;headers" TIMEOUT 120)
