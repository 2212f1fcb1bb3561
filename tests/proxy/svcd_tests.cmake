# The node daemon (SPEC CFG-*, DRN-1/2/4/5, LIM-1, L3-1, L7/L4 end to end):
# the local API wire format, the loop's fd watches used by the svcd binary,
# the whole daemon on both backends (3-node world of dp_fixture), and the
# real binaries in network namespaces with curl and psql.
tailsim_test(test_localapi proxy/test_localapi.c)
target_link_libraries(test_localapi PRIVATE svc_daemon)

tailsim_test(test_svcd_loop proxy/test_svcd_loop.c)
target_link_libraries(test_svcd_loop PRIVATE svc_io)

# svcd's local API server on the epoll loop, with the real svcctl (REL-6).
tailsim_test(test_localapi_server proxy/test_localapi_server.c)
target_link_libraries(test_localapi_server PRIVATE svc_apiserver)
target_compile_definitions(test_localapi_server PRIVATE SVCCTL_PATH="$<TARGET_FILE:svcctl>")
add_dependencies(test_localapi_server svcctl)

tailsim_test(test_svcd_sim proxy/test_svcd.c proxy/dp_fixture_sim.c proxy/tconn.c)
target_link_libraries(test_svcd_sim PRIVATE svc_daemon svc_apps svc_sim)
target_compile_definitions(test_svcd_sim PRIVATE SVCD_SUITE=svcd_sim)

tailsim_test(test_svcd_epoll proxy/test_svcd.c proxy/dp_fixture_epoll.c proxy/tconn.c)
target_link_libraries(test_svcd_epoll PRIVATE svc_daemon svc_apps svc_io tailsim_test_netns)
target_compile_definitions(test_svcd_epoll PRIVATE SVCD_SUITE=svcd_epoll)

# The origin of the real-process tests is apps/cmd/svcd_test_backend.c.
tailsim_test(test_svcd_real proxy/test_svcd_real.c proxy/pg_fixture.c)
target_link_libraries(test_svcd_real PRIVATE tailsim_test_netns)
target_compile_definitions(test_svcd_real PRIVATE
  SVCD_PATH="$<TARGET_FILE:svcd>" SVCCTL_PATH="$<TARGET_FILE:svcctl>"
  BACKEND_PATH="$<TARGET_FILE:svcd_test_backend>")
add_dependencies(test_svcd_real svcd svcctl svcd_test_backend)

# The command-line number parser every binary uses (lib/base/numarg.h).
tailsim_test(test_numarg proxy/test_numarg.c)
