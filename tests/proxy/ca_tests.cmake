# The tailnet CA: determinism, chain and name verification, a TLS handshake.
# OpenSSL's imported targets are directory-scoped: find them here too.
find_package(OpenSSL REQUIRED)
tailsim_test(test_ca proxy/test_ca.c)
target_link_libraries(test_ca PRIVATE svc_ca OpenSSL::SSL)
