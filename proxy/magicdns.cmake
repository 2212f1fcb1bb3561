# MagicDNS in the node daemon (SVC-3, ACL-1): the pure answerer and its
# UDP server on the seam.
add_library(svc_magicdns STATIC ${CMAKE_CURRENT_LIST_DIR}/magicdns.c)
target_include_directories(svc_magicdns PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(svc_magicdns PUBLIC svc_dataplane svc_io PRIVATE project_warnings)

# libFuzzer target over magicdns_answer (same switch as proxy/serve.cmake:
# -DCMAKE_C_COMPILER=clang -DTAILSIM_FUZZ=ON). The answerer is built with
# the netmap parser and address helpers into an instrumented library, so
# the fuzzer needs none of the I/O code.
if(TAILSIM_FUZZ)
  add_library(svc_magicdns_fuzz STATIC
    ${CMAKE_CURRENT_LIST_DIR}/magicdns.c
    ${CMAKE_CURRENT_LIST_DIR}/netmap.c
    ${CMAKE_CURRENT_LIST_DIR}/io_addr.c
    ${CMAKE_CURRENT_LIST_DIR}/io_event.c)
  target_include_directories(svc_magicdns_fuzz PUBLIC ${CMAKE_CURRENT_LIST_DIR})
  target_compile_options(svc_magicdns_fuzz PRIVATE -fsanitize=fuzzer-no-link,address -g)
  target_link_libraries(svc_magicdns_fuzz PUBLIC PkgConfig::CJSON m PRIVATE project_warnings)
  add_executable(fuzz_magicdns ${CMAKE_SOURCE_DIR}/fuzz/fuzz_magicdns.c)
  target_compile_options(fuzz_magicdns PRIVATE -fsanitize=fuzzer,address -g)
  target_link_options(fuzz_magicdns PRIVATE -fsanitize=fuzzer,address)
  target_link_libraries(fuzz_magicdns PRIVATE svc_magicdns_fuzz project_warnings)
endif()
