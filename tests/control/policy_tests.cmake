# The tailnet policy: parse, validation messages, evaluation (ACL-1..3, APR-3).
tailsim_test(test_policy control/test_policy.c)
target_link_libraries(test_policy PRIVATE svc_policy)
