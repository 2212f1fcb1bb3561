# The overlay data plane: netmap model, packet parser, TUN <-> underlay.
add_library(svc_dataplane STATIC
  ${CMAKE_CURRENT_LIST_DIR}/netmap.c
  ${CMAKE_CURRENT_LIST_DIR}/packet.c
  ${CMAKE_CURRENT_LIST_DIR}/dataplane.c)
target_include_directories(svc_dataplane PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(svc_dataplane PUBLIC svc_io PkgConfig::CJSON PkgConfig::PCAP m
  PRIVATE project_warnings)

# libFuzzer targets over the packet parser and the netmap parser (same
# switch as proxy/serve.cmake: -DCMAKE_C_COMPILER=clang -DTAILSIM_FUZZ=ON).
# The parsers are built into their own instrumented library with the
# address helpers they use, so the fuzzers need none of the I/O code.
if(TAILSIM_FUZZ)
  add_library(svc_dataplane_fuzz STATIC
    ${CMAKE_CURRENT_LIST_DIR}/netmap.c
    ${CMAKE_CURRENT_LIST_DIR}/packet.c
    ${CMAKE_CURRENT_LIST_DIR}/io_addr.c)
  target_include_directories(svc_dataplane_fuzz PUBLIC ${CMAKE_CURRENT_LIST_DIR})
  target_compile_options(svc_dataplane_fuzz PRIVATE -fsanitize=fuzzer-no-link,address -g)
  target_link_libraries(svc_dataplane_fuzz PUBLIC PkgConfig::CJSON m PRIVATE project_warnings)
  foreach(t fuzz_packet fuzz_netmap)
    add_executable(${t} ${CMAKE_SOURCE_DIR}/fuzz/${t}.c)
    target_compile_options(${t} PRIVATE -fsanitize=fuzzer,address -g)
    target_link_options(${t} PRIVATE -fsanitize=fuzzer,address)
    target_link_libraries(${t} PRIVATE svc_dataplane_fuzz project_warnings)
  endforeach()
endif()
