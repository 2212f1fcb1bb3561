# The map session with control, daemon side (proxy/mapclient.c) and its use
# in svcd (DRN-1/2/3 with control, L7-5 certificates, CFG-12): the sim
# three-node world with a fake control written in the test.
tailsim_test(test_mapclient_sim proxy/test_mapclient.c proxy/dp_fixture_sim.c proxy/tconn.c
  proxy/http_support.c)
target_link_libraries(test_mapclient_sim PRIVATE svc_daemon svc_apps svc_sim)
target_compile_definitions(test_mapclient_sim PRIVATE MAPCLIENT_SUITE=mapclient_sim)

# The same on the real backend (network namespaces, wall clock); the tests
# that count timer ticks run in the sim only.
tailsim_test(test_mapclient_epoll proxy/test_mapclient.c proxy/dp_fixture_epoll.c proxy/tconn.c
  proxy/http_support.c)
target_link_libraries(test_mapclient_epoll PRIVATE svc_daemon svc_apps svc_io tailsim_test_netns)
target_compile_definitions(test_mapclient_epoll PRIVATE MAPCLIENT_SUITE=mapclient_epoll
  MAPCLIENT_EPOLL=1)
