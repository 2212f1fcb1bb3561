# The coordination server on the seam (control*.c, one file per concern:
# control/README.md) and the admin command grammar; its binaries are in cmd/. Needs the registry, mapgen, policy, CA
# and map protocol libraries; no writable globals allowed in svc_control.
if(TARGET svc_registry AND TARGET svc_mapgen AND TARGET svc_policy AND TARGET svc_ca
   AND TARGET svc_mapproto)
  add_library(svc_control STATIC
    ${CMAKE_CURRENT_LIST_DIR}/control.c
    ${CMAKE_CURRENT_LIST_DIR}/control_session.c
    ${CMAKE_CURRENT_LIST_DIR}/control_maps.c
    ${CMAKE_CURRENT_LIST_DIR}/control_drain.c
    ${CMAKE_CURRENT_LIST_DIR}/control_state.c
    ${CMAKE_CURRENT_LIST_DIR}/control_admin_http.c
    ${CMAKE_CURRENT_LIST_DIR}/control_admin_cmd.c
    ${CMAKE_CURRENT_LIST_DIR}/admin_cmd.c)
  target_link_libraries(svc_control PUBLIC svc_registry svc_mapgen svc_policy svc_ca svc_storage
    svc_mapproto svc_wg svc_httpmsg svc_io PkgConfig::CJSON PRIVATE svc_localapi project_warnings)
endif()

