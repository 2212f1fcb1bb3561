# Storage (proxy/storage.h): the seam for files kept across restarts, on
# real files (controld) and in memory with faults (the simulator, tests).
# No writable globals allowed.
add_library(svc_storage STATIC
  ${CMAKE_CURRENT_LIST_DIR}/storage_file.c
  ${CMAKE_CURRENT_LIST_DIR}/storage_mem.c)
target_include_directories(svc_storage PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(svc_storage PRIVATE project_warnings)
