# The serve configuration model and the `serve` command grammar: pure C, no I/O.
add_library(svc_serve STATIC
  ${CMAKE_CURRENT_LIST_DIR}/serve_config.c
  ${CMAKE_CURRENT_LIST_DIR}/serve_cmd.c)
target_include_directories(svc_serve PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(svc_serve PUBLIC PkgConfig::CJSON PRIVATE project_warnings)

# libFuzzer target over the JSON config parser and the command parser.
# Configure with: -DCMAKE_C_COMPILER=clang -DTAILSIM_FUZZ=ON
option(TAILSIM_FUZZ "Build the libFuzzer targets (needs clang)" OFF)
if(TAILSIM_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "TAILSIM_FUZZ needs clang (-DCMAKE_C_COMPILER=clang)")
  endif()
  # The library itself is instrumented too, so coverage guides the fuzzer.
  target_compile_options(svc_serve PRIVATE -fsanitize=fuzzer-no-link,address -g)
  add_executable(fuzz_serve ${CMAKE_SOURCE_DIR}/fuzz/fuzz_serve.c)
  target_compile_options(fuzz_serve PRIVATE -fsanitize=fuzzer,address -g)
  target_link_options(fuzz_serve PRIVATE -fsanitize=fuzzer,address)
  target_link_libraries(fuzz_serve PRIVATE svc_serve project_warnings)
endif()
