# The L7 proxy: head handling (pure) and the proxy on both seam backends.
tailsim_test(test_http_msg proxy/test_http_msg.c)
target_link_libraries(test_http_msg PRIVATE svc_http)
# The reason-phrase walk reads the sources of the answers it checks.
target_compile_definitions(test_http_msg PRIVATE SOURCE_DIR="${CMAKE_SOURCE_DIR}")

tailsim_test(test_http_proxy_epoll proxy/test_http_proxy.c proxy/http_support.c proxy/io_tap.c
  io/fixture_epoll.c)
target_link_libraries(test_http_proxy_epoll PRIVATE svc_http svc_apps svc_io tailsim_test_netns)
target_compile_definitions(test_http_proxy_epoll PRIVATE HTTP_SUITE=http_epoll HTTP_EPOLL=1)

tailsim_test(test_http_proxy_sim proxy/test_http_proxy.c proxy/http_support.c proxy/io_tap.c
  io/fixture_sim.c)
target_link_libraries(test_http_proxy_sim PRIVATE svc_http svc_apps svc_sim)
target_compile_definitions(test_http_proxy_sim PRIVATE HTTP_SUITE=http_sim HTTP_SIM=1)
