# Serve config model and `serve` command grammar (SPEC CFG-*, L3-2, SVC-1).
tailsim_test(test_serve_config proxy/test_serve_config.c)
target_link_libraries(test_serve_config PRIVATE svc_serve)

tailsim_test(test_serve_cmd proxy/test_serve_cmd.c)
target_link_libraries(test_serve_cmd PRIVATE svc_serve)
