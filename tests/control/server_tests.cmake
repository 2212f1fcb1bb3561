# The coordination server: on the sim backend with fake daemons (and the
# admin grammar), and as real processes (controld, svcadm, curl) on loopback.
if(TARGET svc_storage)
  tailsim_test(test_storage control/test_storage.c)
  target_link_libraries(test_storage PRIVATE svc_storage)
endif()

if(TARGET svc_control)
  tailsim_test(test_control control/test_control.c)
  target_link_libraries(test_control PRIVATE svc_control svc_sim)

  tailsim_test(test_control_real control/test_control_real.c)
  target_link_libraries(test_control_real PRIVATE PkgConfig::CJSON)
  target_compile_definitions(test_control_real PRIVATE
    CONTROLD_PATH="$<TARGET_FILE:controld>" SVCADM_PATH="$<TARGET_FILE:svcadm>")
  add_dependencies(test_control_real controld svcadm)
endif()
