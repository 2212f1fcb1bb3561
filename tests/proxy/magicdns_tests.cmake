# MagicDNS (SVC-3, ACL-1): the answerer on crafted and real-tool queries,
# and one round trip through the server on the sim backend.
tailsim_test(test_magicdns proxy/test_magicdns.c proxy/dp_fixture_sim.c)
target_link_libraries(test_magicdns PRIVATE svc_magicdns svc_sim)
