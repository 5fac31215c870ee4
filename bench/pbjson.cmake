# pbjson_bench: the CPU of turning one 20-call history answer into JSON, the
# unpack and the writing apart (docs/BENCHMARKS.md section 4).
add_executable(pbjson_bench ${CMAKE_CURRENT_LIST_DIR}/pbjson_bench.c)
target_link_libraries(pbjson_bench PRIVATE gw_rest)
