# Netmap generation and map session deltas (SPEC ACL-1..3, STR-2/3, L7-5):
# every map is checked with the daemon's own parser (svc_dataplane).
tailsim_test(test_mapgen control/test_mapgen.c)
target_link_libraries(test_mapgen PRIVATE svc_mapgen svc_dataplane)
