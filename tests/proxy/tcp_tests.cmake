# The L4 Service Proxy and the backend programs in apps/ (SPEC L4-1, L4-2, DRN-2,
# DRN-4, CFG-6): the same test code on both backends, like the seam
# contract suite.
tailsim_test(test_tcp_proxy_epoll proxy/test_tcp_proxy.c proxy/io_tap.c io/fixture_epoll.c)
target_link_libraries(test_tcp_proxy_epoll PRIVATE svc_tcpproxy svc_apps svc_http svc_io
  tailsim_test_netns)
target_compile_definitions(test_tcp_proxy_epoll PRIVATE TCP_SUITE=tcp_proxy_epoll)

tailsim_test(test_tcp_proxy_sim proxy/test_tcp_proxy.c proxy/io_tap.c io/fixture_sim.c)
target_link_libraries(test_tcp_proxy_sim PRIVATE svc_tcpproxy svc_apps svc_http svc_sim)
# ns-3's default socket buffers are 128 KiB: a few MB fill every one.
target_compile_definitions(test_tcp_proxy_sim PRIVATE TCP_SUITE=tcp_proxy_sim TCP_TEST_SIM
  TCP_TEST_STALL_BYTES=8388608u)

# SPEC L4-3, real mode only: PostgreSQL (Debian package postgresql-15)
# started by the test, its own `psql` client through the proxy on epoll.
tailsim_test(test_tcp_proxy_pg proxy/test_tcp_proxy_pg.c proxy/pg_fixture.c proxy/io_tap.c)
target_link_libraries(test_tcp_proxy_pg PRIVATE svc_tcpproxy svc_io)
