# The node daemon (svcd.c ties the data plane, serve config and Service
# Proxies together), and the real binaries: `svcd` (epoll, real TUN, real
# UDP) and `svcctl` (the CLI). No writable globals allowed in svc_daemon.
# mapclient.c is the map session with control (proxy/mapclient.h).
add_library(svc_daemon STATIC
  ${CMAKE_CURRENT_LIST_DIR}/svcd.c
  ${CMAKE_CURRENT_LIST_DIR}/mapclient.c)
target_link_libraries(svc_daemon PUBLIC svc_dataplane svc_http svc_tcpproxy svc_serve svc_io
  svc_mapproto svc_ca svc_magicdns svc_localapi PkgConfig::CJSON PRIVATE project_warnings)

# svcd's local API server (real mode only: raw Unix sockets on the epoll
# loop), a library of its own so its tests need neither root nor a TUN.
add_library(svc_apiserver STATIC ${CMAKE_CURRENT_LIST_DIR}/localapi_server.c)
target_link_libraries(svc_apiserver PUBLIC svc_daemon svc_io PRIVATE project_warnings)

add_executable(svcd ${CMAKE_CURRENT_LIST_DIR}/svcd_main.c)
target_link_libraries(svcd PRIVATE svc_daemon svc_apiserver project_warnings)
set_target_properties(svcd PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})

# svcctl needs only the wire format: keep it small.
add_executable(svcctl ${CMAKE_CURRENT_LIST_DIR}/svcctl.c)
target_link_libraries(svcctl PRIVATE svc_localapi project_warnings)
set_target_properties(svcctl PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
