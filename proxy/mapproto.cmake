# The map session protocol codec (framing, messages, netmap deltas): pure C.
add_library(svc_mapproto STATIC ${CMAKE_CURRENT_LIST_DIR}/mapproto.c)
target_include_directories(svc_mapproto PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(svc_mapproto PUBLIC PkgConfig::CJSON m PRIVATE PkgConfig::ZLIB project_warnings)

# libFuzzer target over the framing, message parser and delta application
# (same switch as proxy/serve.cmake: -DCMAKE_C_COMPILER=clang -DTAILSIM_FUZZ=ON).
if(TAILSIM_FUZZ)
  add_library(svc_mapproto_fuzz STATIC ${CMAKE_CURRENT_LIST_DIR}/mapproto.c)
  target_include_directories(svc_mapproto_fuzz PUBLIC ${CMAKE_CURRENT_LIST_DIR})
  target_compile_options(svc_mapproto_fuzz PRIVATE -fsanitize=fuzzer-no-link,address -g)
  target_link_libraries(svc_mapproto_fuzz PUBLIC PkgConfig::CJSON m PkgConfig::ZLIB PRIVATE project_warnings)
  add_executable(fuzz_mapproto ${CMAKE_SOURCE_DIR}/fuzz/fuzz_mapproto.c)
  target_compile_options(fuzz_mapproto PRIVATE -fsanitize=fuzzer,address -g)
  target_link_options(fuzz_mapproto PRIVATE -fsanitize=fuzzer,address)
  target_link_libraries(fuzz_mapproto PRIVATE svc_mapproto_fuzz project_warnings)
endif()
