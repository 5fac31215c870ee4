# events_bench: the real producer path (events_append) driven at a rate, for
# bench/events_bench.mjs and tests/integration/events.test.mjs.
if(TARGET cs_events)
  add_executable(events_bench ${CMAKE_CURRENT_LIST_DIR}/events_bench.c)
  target_link_libraries(events_bench PRIVATE cs_events cs_db cs_proto cs_common)
endif()
