# The tailnet policy (SPEC ACL-1..3, APR-3): HuJSON parse, validation and
# evaluation. Pure C over cJSON; errfmt.h and check.h come from proxy/.
add_library(svc_policy STATIC ${CMAKE_CURRENT_LIST_DIR}/policy.c)
target_include_directories(svc_policy PUBLIC ${CMAKE_CURRENT_LIST_DIR}
  ${CMAKE_SOURCE_DIR}/proxy)
target_link_libraries(svc_policy PUBLIC PkgConfig::CJSON PRIVATE project_warnings)

# libFuzzer target over the policy parser and evaluation.
# Configure with: -DCMAKE_C_COMPILER=clang -DTAILSIM_FUZZ=ON
if(TAILSIM_FUZZ)
  target_compile_options(svc_policy PRIVATE -fsanitize=fuzzer-no-link,address -g)
  add_executable(fuzz_policy ${CMAKE_SOURCE_DIR}/fuzz/fuzz_policy.c)
  target_compile_options(fuzz_policy PRIVATE -fsanitize=fuzzer,address -g)
  target_link_options(fuzz_policy PRIVATE -fsanitize=fuzzer,address)
  target_link_libraries(fuzz_policy PRIVATE svc_policy project_warnings)
endif()
