# The serve configuration model and the `serve` command grammar: pure C, no I/O.
add_library(svc_serve STATIC
  ${CMAKE_CURRENT_LIST_DIR}/serve_config.c
  ${CMAKE_CURRENT_LIST_DIR}/serve_cmd.c)
target_link_libraries(svc_serve PUBLIC svc_base PkgConfig::CJSON PRIVATE project_warnings)
