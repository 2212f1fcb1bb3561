# Per-node netmap generation and map session deltas: pure C over the registry.
add_library(svc_mapgen STATIC
  ${CMAKE_CURRENT_LIST_DIR}/mapgen.c
  ${CMAKE_CURRENT_LIST_DIR}/mapgen_map.c
  ${CMAKE_CURRENT_LIST_DIR}/mapgen_delta.c)
target_link_libraries(svc_mapgen PUBLIC svc_registry svc_mapproto svc_wg PkgConfig::CJSON
  PRIVATE project_warnings)
