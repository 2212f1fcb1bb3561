# MagicDNS in the node daemon (SVC-3, ACL-1): the pure answerer and its
# UDP server on the seam.
add_library(svc_magicdns STATIC ${CMAKE_CURRENT_LIST_DIR}/magicdns.c)
target_link_libraries(svc_magicdns PUBLIC svc_dataplane svc_io PRIVATE project_warnings)
