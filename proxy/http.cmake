# The L7 Service Proxy (SPEC L7-1..L7-5): llhttp (third-party, compiled from
# Debian's node-llhttp sources), TLS over the seam, HTTP head handling, the
# proxy itself and a small HTTP backend usable by tests and workloads.
find_package(OpenSSL REQUIRED)

# Third-party code: its own warnings never fail our build.
add_library(svc_llhttp STATIC
  /usr/share/llhttp/api.c
  /usr/share/llhttp/http.c
  /usr/share/llhttp/llhttp.c)
target_include_directories(svc_llhttp SYSTEM PUBLIC /usr/share/include/llhttp)
target_compile_options(svc_llhttp PRIVATE -w)

add_library(svc_http STATIC
  ${CMAKE_CURRENT_LIST_DIR}/tls.c
  ${CMAKE_CURRENT_LIST_DIR}/http_msg.c
  ${CMAKE_CURRENT_LIST_DIR}/http_proxy.c
  ${CMAKE_CURRENT_LIST_DIR}/http_backend.c)
target_include_directories(svc_http PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(svc_http PUBLIC svc_llhttp svc_serve svc_io OpenSSL::SSL OpenSSL::Crypto
  PRIVATE project_warnings)

# libFuzzer target over the request-head parser and the header rewrite.
# Configure with: -DCMAKE_C_COMPILER=clang -DTAILSIM_FUZZ=ON
if(TAILSIM_FUZZ)
  target_compile_options(svc_http PRIVATE -fsanitize=fuzzer-no-link,address -g)
  target_compile_options(svc_llhttp PRIVATE -fsanitize=fuzzer-no-link,address -g)
  add_executable(fuzz_http ${CMAKE_SOURCE_DIR}/fuzz/fuzz_http.c)
  target_compile_options(fuzz_http PRIVATE -fsanitize=fuzzer,address -g)
  target_link_options(fuzz_http PRIVATE -fsanitize=fuzzer,address)
  target_link_libraries(fuzz_http PRIVATE svc_http project_warnings)
endif()

# libFuzzer target over the whole L7 request path: a proxy with every kind
# of handler on an in-memory seam (fuzz/mem_io.c), clients and an upstream
# played by the harness.
if(TAILSIM_FUZZ)
  add_executable(fuzz_l7 ${CMAKE_SOURCE_DIR}/fuzz/fuzz_l7.c ${CMAKE_SOURCE_DIR}/fuzz/mem_io.c)
  target_compile_options(fuzz_l7 PRIVATE -fsanitize=fuzzer,address -g)
  target_link_options(fuzz_l7 PRIVATE -fsanitize=fuzzer,address)
  target_link_libraries(fuzz_l7 PRIVATE svc_http project_warnings)
endif()
