# bench/relink_bench/smoke_test.cmake — the CTest smoke test of relink-bench (cmake/RelinkBench.cmake, label
# `bench`): runs four scenarios at tiny sizes (a few seconds each), then checks that the JSON is well-formed, has
# the shared format's fields and the metric names peer-bench and `relink-bench compare` rely on, and that
# `compare` and `chart` work on it. Nothing about timings is asserted: only that the tool still works.
# Usage: cmake -DBENCH=path/to/relink-bench -DOUT=dir -P smoke_test.cmake
file(REMOVE_RECURSE "${OUT}")
file(MAKE_DIRECTORY "${OUT}")
set(json "${OUT}/smoke.json")
execute_process(
  COMMAND "${BENCH}" --scenario connect --clients 20 --concurrency 20 --channel-size 10
          --scenario fanout --members 10 --messages 20 --rate 200
          --scenario restart --restart-runs 2
          --scenario dup_login --dup-seconds 3 --relogin-delay-ms 300
          --json "${json}"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 25)
message("${out}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "relink-bench exited with ${rc}\n${err}")
endif()

file(READ "${json}" doc)
string(JSON stack ERROR_VARIABLE e GET "${doc}" stack)
if(e OR NOT stack STREQUAL "relink")
  message(FATAL_ERROR "\"stack\" is not \"relink\": ${e}")
endif()
foreach(field command started)
  string(JSON v ERROR_VARIABLE e GET "${doc}" ${field})
  if(e)
    message(FATAL_ERROR "missing \"${field}\": ${e}")
  endif()
endforeach()
string(JSON cpus ERROR_VARIABLE e GET "${doc}" host cpus)
if(e)
  message(FATAL_ERROR "missing host.cpus: ${e}")
endif()

# scenario name → metric names it must carry (numbers or null)
set(want_connect connect_ms_p50 connect_ms_p99 logins_per_s)
set(want_fanout delivered_per_s latency_ms_p50 latency_ms_p99 latency_ms_p999)
set(want_restart reconnect_ms_p50 reconnect_ms_p90 reconnect_ms_max)
set(want_dup_login kicks kicks_with_reason flaps)
string(JSON count LENGTH "${doc}" scenarios)
if(NOT count EQUAL 4)
  message(FATAL_ERROR "expected 4 scenario entries, got ${count}")
endif()
math(EXPR last "${count} - 1")
foreach(i RANGE ${last})
  string(JSON name GET "${doc}" scenarios ${i} name)
  foreach(part params settings metrics samples)
    string(JSON type ERROR_VARIABLE e TYPE "${doc}" scenarios ${i} ${part})
    if(e OR NOT type STREQUAL "OBJECT")
      message(FATAL_ERROR "${name}: \"${part}\" is not an object")
    endif()
  endforeach()
  foreach(metric ${want_${name}})
    string(JSON type ERROR_VARIABLE e TYPE "${doc}" scenarios ${i} metrics ${metric})
    if(e OR NOT (type STREQUAL "NUMBER" OR type STREQUAL "NULL"))
      message(FATAL_ERROR "${name}: metric ${metric} missing or not a number (${type} ${e})")
    endif()
  endforeach()
endforeach()

execute_process(COMMAND "${BENCH}" compare "${json}" "${json}" RESULT_VARIABLE rc OUTPUT_VARIABLE out TIMEOUT 10)
if(NOT rc EQUAL 0 OR NOT out MATCHES "reconnect_ms_p50")
  message(FATAL_ERROR "relink-bench compare failed (${rc}):\n${out}")
endif()
execute_process(COMMAND "${BENCH}" chart "${json}" "${OUT}/charts" RESULT_VARIABLE rc OUTPUT_VARIABLE out TIMEOUT 10)
if(NOT rc EQUAL 0 OR NOT EXISTS "${OUT}/charts/fanout_latency.svg")
  message(FATAL_ERROR "relink-bench chart failed (${rc}):\n${out}")
endif()
message(STATUS "relink-bench smoke: ${count} scenarios, JSON, compare and chart OK")
