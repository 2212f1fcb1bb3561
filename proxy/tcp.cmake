# The L4 Service Proxy (SPEC L4-1, L4-2) and the backend programs on the
# seam (tcp-echo, tcp-sink, udp-echo). No writable globals allowed.
# TLS termination (--tls-terminated-tcp) uses lib/wire/tls.c (svc_tls).
add_library(svc_tcpproxy STATIC
  ${CMAKE_CURRENT_LIST_DIR}/tcp_proxy.c
  ${CMAKE_CURRENT_LIST_DIR}/backend_apps.c)
target_link_libraries(svc_tcpproxy PUBLIC svc_io svc_serve svc_tls svc_http PRIVATE project_warnings)
