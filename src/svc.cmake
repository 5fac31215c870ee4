# callsvc: the service executable (included from src/CMakeLists.txt).
add_executable(callsvc ${CMAKE_CURRENT_SOURCE_DIR}/main.c ${CMAKE_CURRENT_SOURCE_DIR}/methods.c
               ${CMAKE_CURRENT_SOURCE_DIR}/svc_config.c)
target_include_directories(callsvc PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
# The default SQL_DIR: the source tree's sql/, so a build tree works as is.
target_compile_definitions(callsvc PRIVATE CS_SQL_DIR_DEFAULT="${CMAKE_SOURCE_DIR}/sql")
target_link_libraries(callsvc PRIVATE cs_users cs_auth cs_db cs_rpc cs_proto cs_common
                      Threads::Threads)
foreach(m calls events ari ops)
  if(TARGET cs_${m})
    target_link_libraries(callsvc PRIVATE cs_${m})
  endif()
endforeach()

if(CMOCKA_FOUND)
  add_executable(test_svc_config ${CMAKE_SOURCE_DIR}/tests/unit/test_svc_config.c
                 ${CMAKE_CURRENT_SOURCE_DIR}/svc_config.c)
  target_include_directories(test_svc_config PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  target_compile_definitions(test_svc_config PRIVATE CS_SQL_DIR_DEFAULT="${CMAKE_SOURCE_DIR}/sql")
  target_link_libraries(test_svc_config PRIVATE cs_common PkgConfig::CMOCKA)
  add_test(NAME unit.svc_config COMMAND test_svc_config)
endif()
