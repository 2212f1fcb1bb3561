# The registry: users, nodes, services, hosts, approvals, steering, states.
add_library(svc_registry STATIC
  ${CMAKE_CURRENT_LIST_DIR}/registry.c
  ${CMAKE_CURRENT_LIST_DIR}/registry_nodes.c
  ${CMAKE_CURRENT_LIST_DIR}/registry_services.c
  ${CMAKE_CURRENT_LIST_DIR}/registry_approval.c
  ${CMAKE_CURRENT_LIST_DIR}/registry_authkeys.c
  ${CMAKE_CURRENT_LIST_DIR}/registry_json.c)
# OpenSSL: SHA-256 of tokens and auth keys (only hashes are kept, SEC-1).
target_link_libraries(svc_registry PUBLIC svc_policy svc_io PkgConfig::CJSON OpenSSL::Crypto
  PRIVATE project_warnings)
