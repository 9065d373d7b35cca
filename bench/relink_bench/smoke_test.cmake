# bench/relink_bench/smoke_test.cmake — the CTest smoke test of relink-bench (cmake/RelinkBench.cmake, label
# `bench`): runs five scenarios at tiny sizes (a few seconds each), then checks that the JSON is well-formed, has
# the shared format's fields and the metric names peer-bench and `relink-bench compare` rely on, and that
# `compare` and `chart` work on it; then a tiny cluster run (`--cluster 0,2`, cross_node: one relinkd, then two
# nodes on a redis-server child) whose entries must name their deployment, deliver every message and carry the
# Redis figures. Nothing about timings is asserted: only that the tool still works.
# Usage: cmake -DBENCH=path/to/relink-bench -DOUT=dir -P smoke_test.cmake
file(REMOVE_RECURSE "${OUT}")
file(MAKE_DIRECTORY "${OUT}")
set(json "${OUT}/smoke.json")
execute_process(
  COMMAND "${BENCH}" --scenario connect --clients 20 --concurrency 20 --channel-size 10
          --scenario fanout --members 10 --messages 20 --rate 200
          --scenario restart --restart-runs 2
          --scenario dup_login --dup-seconds 3 --relogin-delay-ms 300
          --scenario overload --overload-clients 30 --overload-rate 100 --overload-hold 1
          --json "${json}"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 30)
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
set(want_overload connected_fraction established_lost relinkd_rss_max_mib connect_ms_p99)
string(JSON count LENGTH "${doc}" scenarios)
if(NOT count EQUAL 5)
  message(FATAL_ERROR "expected 5 scenario entries, got ${count}")
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

# The cluster mode: one relinkd, then two relinkd nodes sharing a redis-server (the sender on one, the receivers on
# the other). About 10 s: each deployment reads Redis's idle background for 2 s before its clients log in.
set(cluster_json "${OUT}/cluster.json")
execute_process(
  COMMAND "${BENCH}" --cluster 0,2 --scenario cross_node --xnode-receivers 3 --xnode-messages 20 --xnode-rate 200
          --json "${cluster_json}"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 25)
message("${out}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "relink-bench --cluster exited with ${rc}\n${err}")
endif()
file(READ "${cluster_json}" doc)
string(JSON cluster_count LENGTH "${doc}" scenarios)
if(NOT cluster_count EQUAL 2)
  message(FATAL_ERROR "--cluster 0,2: expected 2 scenario entries, got ${cluster_count}")
endif()
foreach(entry "0;single;1" "1;cluster;2")
  list(GET entry 0 i)
  list(GET entry 1 want_deployment)
  list(GET entry 2 want_nodes)
  string(JSON deployment GET "${doc}" scenarios ${i} params deployment)
  string(JSON nodes GET "${doc}" scenarios ${i} params nodes)
  if(NOT deployment STREQUAL want_deployment OR NOT nodes EQUAL want_nodes)
    message(FATAL_ERROR "entry ${i}: deployment ${deployment}, nodes ${nodes}; want ${want_deployment}, ${want_nodes}")
  endif()
  string(JSON delivered GET "${doc}" scenarios ${i} metrics delivered)
  string(JSON expected GET "${doc}" scenarios ${i} metrics expected)
  if(NOT delivered EQUAL expected OR expected EQUAL 0)
    message(FATAL_ERROR "${deployment}: ${delivered} of ${expected} messages delivered")
  endif()
endforeach()
foreach(metric redis_scripts_per_message redis_commands_per_message redis_cpu_us_per_message)
  string(JSON type ERROR_VARIABLE e TYPE "${doc}" scenarios 1 metrics ${metric})
  if(e OR NOT type STREQUAL "NUMBER")
    message(FATAL_ERROR "cluster: metric ${metric} missing or not a number (${type} ${e})")
  endif()
endforeach()
message(STATUS "relink-bench smoke: ${count} scenarios, JSON, compare and chart OK; --cluster OK")
