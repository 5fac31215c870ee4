# send_floor: the kernel's cost of one small send per loopback connection,
# the floor under the Socket.IO fan-out figures (docs/BENCHMARKS.md section 5).
add_executable(send_floor ${CMAKE_CURRENT_LIST_DIR}/send_floor.c)
