# The coordination server on the seam (control.c), the admin command grammar,
# and its binaries: `controld` (epoll) and `svcadm` (the admin CLI). Needs
# the registry, mapgen, policy, CA and map protocol libraries; no writable
# globals allowed in svc_control.
if(TARGET svc_registry AND TARGET svc_mapgen AND TARGET svc_policy AND TARGET svc_ca
   AND TARGET svc_mapproto)
  add_library(svc_control STATIC
    ${CMAKE_CURRENT_LIST_DIR}/control.c
    ${CMAKE_CURRENT_LIST_DIR}/admin_cmd.c)
  target_link_libraries(svc_control PUBLIC svc_registry svc_mapgen svc_policy svc_ca svc_storage
    svc_mapproto svc_httpmsg svc_io PkgConfig::CJSON PRIVATE svc_localapi project_warnings)

  add_executable(controld ${CMAKE_CURRENT_LIST_DIR}/control_main.c)
  target_link_libraries(controld PRIVATE svc_control project_warnings)
  set_target_properties(controld PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
endif()

# svcadm checks the grammar locally and speaks HTTP/1.1 to the admin API with
# a blocking socket: small.
add_executable(svcadm ${CMAKE_CURRENT_LIST_DIR}/svcadm.c ${CMAKE_CURRENT_LIST_DIR}/admin_cmd.c)
target_link_libraries(svcadm PRIVATE svc_localapi PkgConfig::CJSON project_warnings)
set_target_properties(svcadm PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
