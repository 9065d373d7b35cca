# The Python binding's tests (bindings/python/README.md), included by tests/CMakeLists.txt:
#   python_binding          pytest over bindings/python/tests: the ctypes layer against relink.h, and the binding
#                           against a relinkd the tests start themselves
#   relink_cli_pipe_python  tests/cli/cli_test.sh, the same script as relink_cli_pipe, driving `python3 -m
#                           relink.cli` instead of relink-cli
# Both load the librelink.so of this build tree (RELINK_LIBRARY) and run the relinkd built here. Label `python`:
# not `integration`, so not in the TSan phase (a TSan-built library in a Python that is not TSan-built reports the
# interpreter's own threads); under ASan (the asan preset builds librelink.so with ASan and UBSan) Python preloads
# the ASan runtime, which must come first in the process, and libstdc++ after it: ASan's interceptor of C++ throws
# looks up the real __cxa_throw when it starts, and python3 itself does not link libstdc++ (without it the first
# exception thrown inside librelink aborts). Leak checking is off there: CPython frees little at exit, and the C
# API's own leak checks are the C tests'.

# The interpreter: the first python3 that can import pytest. Debian's python3-pytest (scripts/setup.sh) installs it
# for /usr/bin/python3; a python3 earlier on PATH (a pyenv or venv one) may lack it.
find_program(RELINK_PYTHON3_ON_PATH python3)
set(relink_python3 "")
foreach(candidate IN ITEMS ${RELINK_PYTHON3_ON_PATH} /usr/bin/python3)
  if(candidate AND EXISTS "${candidate}")
    execute_process(COMMAND "${candidate}" -c "import pytest" RESULT_VARIABLE relink_no_pytest
                    OUTPUT_QUIET ERROR_QUIET)
    if(relink_no_pytest EQUAL 0)
      set(relink_python3 "${candidate}")
      break()
    endif()
  endif()
endforeach()

set(relink_python_dir ${PROJECT_SOURCE_DIR}/bindings/python)
set(relink_python_prefix "")  # what runs before python3: the ASan runtime, in the asan tree
if(CMAKE_SHARED_LINKER_FLAGS MATCHES "-fsanitize=[a-z,]*address")
  execute_process(COMMAND ${CMAKE_CXX_COMPILER} -print-file-name=libasan.so OUTPUT_VARIABLE relink_libasan
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  execute_process(COMMAND ${CMAKE_CXX_COMPILER} -print-file-name=libstdc++.so.6 OUTPUT_VARIABLE relink_libstdcxx
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  set(relink_python_prefix env LD_PRELOAD=${relink_libasan}:${relink_libstdcxx}
                           ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:detect_stack_use_after_return=1)
endif()

if(relink_python3)
  add_test(NAME python_binding
           COMMAND ${relink_python_prefix} ${relink_python3} -m pytest -q -p no:cacheprovider ${relink_python_dir}/tests
           WORKING_DIRECTORY ${relink_python_dir})
  # RUN_SERIAL: it starts relinkd, gcc and some forty relink-cli processes, which under ASan on two cores would
  # starve tests running beside it of the CPU their timings assume (relink_cli_pipe's 500 ms connection attempts).
  set_tests_properties(python_binding PROPERTIES
    LABELS python TIMEOUT 300 RUN_SERIAL TRUE
    ENVIRONMENT "RELINK_LIBRARY=$<TARGET_FILE:relink_c>;RELINK_BIN_DIR=$<TARGET_FILE_DIR:relinkd>;PYTHONDONTWRITEBYTECODE=1")
else()
  add_test(NAME python_binding
           COMMAND sh -c "echo 'python_binding: no python3 can import pytest: install python3-pytest (scripts/setup.sh)'; exit 1")
  set_tests_properties(python_binding PROPERTIES LABELS python)
  set(relink_python3 python3)
endif()

string(JOIN " " relink_cli_command ${relink_python_prefix} ${relink_python3} -m relink.cli)
add_test(NAME relink_cli_pipe_python
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/cli/cli_test.sh $<TARGET_FILE_DIR:relinkd>)
# RUN_SERIAL too: the script's third client expects its first connection attempt (500 ms at time scale 0.1) to be
# refused, not timed out, which a Python under ASan sharing two cores with other tests does not always make.
set_tests_properties(relink_cli_pipe_python PROPERTIES
  LABELS python TIMEOUT 120 RUN_SERIAL TRUE
  ENVIRONMENT "RELINK_CLI_COMMAND=${relink_cli_command};PYTHONPATH=${relink_python_dir};RELINK_LIBRARY=$<TARGET_FILE:relink_c>;PYTHONDONTWRITEBYTECODE=1")
# The recovery of a SIGKILLed process's session, with the Python driver (its recovery-key and --recover).
add_test(NAME relink_cli_recovery_python
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/cli/recovery_test.sh $<TARGET_FILE_DIR:relinkd>)
set_tests_properties(relink_cli_recovery_python PROPERTIES
  LABELS python TIMEOUT 120 RUN_SERIAL TRUE
  ENVIRONMENT "RELINK_CLI_COMMAND=${relink_cli_command};PYTHONPATH=${relink_python_dir};RELINK_LIBRARY=$<TARGET_FILE:relink_c>;PYTHONDONTWRITEBYTECODE=1")
