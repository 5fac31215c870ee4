# unary_bench: closed-loop unary gRPC load generator (bench/unary_bench.c).
add_executable(unary_bench ${CMAKE_CURRENT_LIST_DIR}/unary_bench.c)
target_link_libraries(unary_bench PRIVATE cs_proto PkgConfig::GRPC Threads::Threads)
