# Map session protocol codec: framing, messages, netmap deltas.
tailsim_test(test_mapproto proxy/test_mapproto.c)
target_link_libraries(test_mapproto PRIVATE svc_mapproto)
