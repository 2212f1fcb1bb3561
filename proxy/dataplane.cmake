# The overlay data plane: TUN <-> underlay, on the netmap model and the
# packet parser (lib/wire).
add_library(svc_dataplane STATIC ${CMAKE_CURRENT_LIST_DIR}/dataplane.c)
target_link_libraries(svc_dataplane PUBLIC svc_netmap svc_packet svc_io PkgConfig::CJSON PkgConfig::PCAP m
  PRIVATE project_warnings)
