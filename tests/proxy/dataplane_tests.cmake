# Netmap model, packet parser and the overlay data plane (SPEC STR-6,
# LIM-2, ACL-4, L3-1's packet path).
tailsim_test(test_netmap proxy/test_netmap.c)
target_link_libraries(test_netmap PRIVATE svc_dataplane)

tailsim_test(test_packet proxy/test_packet.c)
target_link_libraries(test_packet PRIVATE svc_dataplane)

# The data plane over the seam: same test code, both backends, 3 nodes.
tailsim_test(test_dataplane_sim proxy/test_dataplane.c proxy/dp_fixture_sim.c)
target_link_libraries(test_dataplane_sim PRIVATE svc_dataplane svc_sim PkgConfig::PCAP)
target_compile_definitions(test_dataplane_sim PRIVATE DP_SUITE=dataplane_sim DP_SIM=1)
tailsim_test(test_dataplane_epoll proxy/test_dataplane.c proxy/dp_fixture_epoll.c)
target_link_libraries(test_dataplane_epoll PRIVATE svc_dataplane svc_io PkgConfig::PCAP tailsim_test_netns)
target_compile_definitions(test_dataplane_epoll PRIVATE DP_SUITE=dataplane_epoll)

# Flow table, timers, drop accounting and wire format on a scripted seam.
tailsim_test(test_dataplane_unit proxy/test_dataplane_unit.c)
target_link_libraries(test_dataplane_unit PRIVATE svc_dataplane)
