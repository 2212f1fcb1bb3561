# The tailnet policy (SPEC ACL-1..3, APR-3): HuJSON parse, validation and
# evaluation. Pure C over cJSON; errfmt.h and check.h come from lib/base.
add_library(svc_policy STATIC
  ${CMAKE_CURRENT_LIST_DIR}/policy.c
  ${CMAKE_CURRENT_LIST_DIR}/policy_load.c
  ${CMAKE_CURRENT_LIST_DIR}/policy_eval.c)
target_link_libraries(svc_policy PUBLIC svc_base PkgConfig::CJSON PRIVATE project_warnings)

