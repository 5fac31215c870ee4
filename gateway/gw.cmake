# The gateway (callgw) and its libraries. Included from gateway/CMakeLists.txt.

# gRPC client wrapper (src/rpc/client.c): used by callgw, the Socket.IO
# library (WatchEvents) and callctl. src/rpc/CMakeLists.txt declares it when
# it is processed first; this is the fallback.
if(NOT TARGET cs_rpc_client)
  add_library(cs_rpc_client STATIC ${CMAKE_SOURCE_DIR}/src/rpc/client.c)
  target_include_directories(cs_rpc_client PUBLIC ${CMAKE_SOURCE_DIR}/src)
  target_link_libraries(cs_rpc_client PUBLIC cs_common PkgConfig::GRPC PkgConfig::PROTOBUFC
                        Threads::Threads)
endif()

# JSON <-> protobuf mapping and the REST route table: pure code, unit-tested.
add_library(gw_rest STATIC ${CMAKE_CURRENT_SOURCE_DIR}/pbjson.c
                           ${CMAKE_CURRENT_SOURCE_DIR}/routes.c ${CMAKE_CURRENT_SOURCE_DIR}/metrics.c)
target_include_directories(gw_rest PUBLIC ${CMAKE_CURRENT_SOURCE_DIR} ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(gw_rest PUBLIC cs_proto cs_common PkgConfig::JANSSON PkgConfig::PROTOBUFC m)

if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/main.c)
  add_executable(callgw ${CMAKE_CURRENT_SOURCE_DIR}/main.c ${CMAKE_CURRENT_SOURCE_DIR}/http.c
                        ${CMAKE_CURRENT_SOURCE_DIR}/openapi.c)
  target_link_libraries(callgw PRIVATE gw_rest cs_rpc_client PkgConfig::LWS Threads::Threads)
  # The Socket.IO library plugs into the HTTP server through gateway/http.h's
  # delegate seam when it exists.
  if(TARGET gw_socketio)
    target_link_libraries(callgw PRIVATE gw_socketio)
    target_compile_definitions(callgw PRIVATE GW_HAVE_SOCKETIO=1)
    # The Socket.IO application (auth, events, requests) on top of it.
    if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/sio_app.c)
      target_sources(callgw PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/sio_app.c)
      target_compile_definitions(callgw PRIVATE GW_HAVE_SIO_APP=1)
    endif()
  endif()
endif()

# Test-only protobuf messages that cover the numeric kinds the contract lacks.
set(GW_TEST_PROTO_OUT ${CMAKE_BINARY_DIR}/gen-test)
add_custom_command(
  OUTPUT ${GW_TEST_PROTO_OUT}/pbjson_test.pb-c.c ${GW_TEST_PROTO_OUT}/pbjson_test.pb-c.h
  COMMAND ${CMAKE_COMMAND} -E make_directory ${GW_TEST_PROTO_OUT}
  COMMAND ${PROTOC_C} -I${CMAKE_SOURCE_DIR}/tests/unit/proto -I/usr/include
          --c_out=${GW_TEST_PROTO_OUT} pbjson_test.proto
  DEPENDS ${CMAKE_SOURCE_DIR}/tests/unit/proto/pbjson_test.proto
  COMMENT "protoc-c: test-only messages for pbjson")
add_library(gw_test_proto STATIC ${GW_TEST_PROTO_OUT}/pbjson_test.pb-c.c)
target_include_directories(gw_test_proto PUBLIC ${GW_TEST_PROTO_OUT})
target_link_libraries(gw_test_proto PUBLIC cs_proto)
target_compile_options(gw_test_proto PRIVATE -w)

if(CMOCKA_FOUND AND EXISTS ${CMAKE_SOURCE_DIR}/tests/unit/test_routes.c)
  add_executable(test_pbjson ${CMAKE_SOURCE_DIR}/tests/unit/test_pbjson.c)
  target_link_libraries(test_pbjson PRIVATE gw_rest gw_test_proto PkgConfig::CMOCKA)
  add_test(NAME unit.pbjson COMMAND test_pbjson)
  add_executable(test_routes ${CMAKE_SOURCE_DIR}/tests/unit/test_routes.c)
  target_link_libraries(test_routes PRIVATE gw_rest PkgConfig::CMOCKA)
  add_test(NAME unit.routes COMMAND test_routes)
  add_executable(test_gw_metrics ${CMAKE_SOURCE_DIR}/tests/unit/test_gw_metrics.c)
  target_link_libraries(test_gw_metrics PRIVATE gw_rest PkgConfig::CMOCKA)
  add_test(NAME unit.gw_metrics COMMAND test_gw_metrics)
endif()

cs_add_fuzzer(rest gw_rest 65536)
