# The registry: users, nodes, services, hosts, approvals, steering, states.
add_library(svc_registry STATIC
  ${CMAKE_CURRENT_LIST_DIR}/registry.c
  ${CMAKE_CURRENT_LIST_DIR}/registry_nodes.c
  ${CMAKE_CURRENT_LIST_DIR}/registry_services.c
  ${CMAKE_CURRENT_LIST_DIR}/registry_approval.c
  ${CMAKE_CURRENT_LIST_DIR}/registry_json.c)
target_link_libraries(svc_registry PUBLIC svc_policy svc_io PkgConfig::CJSON
  PRIVATE project_warnings)
