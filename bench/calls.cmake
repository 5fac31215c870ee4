# calls_bench: call cycles per second through callsvc and the ARI simulator
# (bench/calls_bench.c, run by bench/calls_bench.sh).
add_executable(calls_bench ${CMAKE_CURRENT_LIST_DIR}/calls_bench.c)
target_link_libraries(calls_bench PRIVATE cs_proto PkgConfig::GRPC)
