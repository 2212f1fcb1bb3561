# The L7 Service Proxy (SPEC L7-1..L7-5) on HTTP heads (llhttp) and TLS over
# the seam (lib/wire), and a small HTTP backend usable by tests and workloads.
add_library(svc_http STATIC
  ${CMAKE_CURRENT_LIST_DIR}/http_proxy.c
  ${CMAKE_CURRENT_LIST_DIR}/http_backend.c)
target_link_libraries(svc_http PUBLIC svc_httpmsg svc_tls svc_llhttp svc_serve svc_io
  OpenSSL::SSL OpenSSL::Crypto PRIVATE project_warnings)
