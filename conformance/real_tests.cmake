# The real-mode core flow (conformance/test_core_real.c): controld, svcadm,
# three svcd processes with svcctl, and curl, each node in its own network
# namespace. Skips itself when not root.
if(TARGET controld AND TARGET svcadm AND TARGET svcd AND TARGET svcctl
   AND TARGET svcd_test_backend)
  tailsim_test(test_core_real ${CMAKE_SOURCE_DIR}/conformance/test_core_real.c)
  target_link_libraries(test_core_real PRIVATE tailsim_test_netns PkgConfig::CJSON)
  target_compile_definitions(test_core_real PRIVATE
    CONTROLD_PATH="$<TARGET_FILE:controld>" SVCADM_PATH="$<TARGET_FILE:svcadm>"
    SVCD_PATH="$<TARGET_FILE:svcd>" SVCCTL_PATH="$<TARGET_FILE:svcctl>"
    BACKEND_PATH="$<TARGET_FILE:svcd_test_backend>")
  add_dependencies(test_core_real controld svcadm svcd svcctl svcd_test_backend)
  set_tests_properties(test_core_real PROPERTIES TIMEOUT 1800)
endif()
