# simrun end to end: the shipped scenarios (scenarios/*.yaml), outputs,
# determinism and the timeline (tests/sim/test_simrun.c).
if(TARGET simrun)
  tailsim_test(test_simrun ${CMAKE_CURRENT_LIST_DIR}/test_simrun.c)
  target_link_libraries(test_simrun PRIVATE svc_sim)
  target_compile_definitions(test_simrun PRIVATE
    SIMRUN_PATH="$<TARGET_FILE:simrun>" SOURCE_DIR="${CMAKE_SOURCE_DIR}")
  set_tests_properties(test_simrun PROPERTIES TIMEOUT 1200)
endif()

# The client workloads against the backend programs in a small ns-3 world
# (tests/sim/test_workloads.c).
if(TARGET svc_tailnet)
  tailsim_test(test_workloads ${CMAKE_CURRENT_LIST_DIR}/test_workloads.c)
  target_link_libraries(test_workloads PRIVATE svc_tailnet)
endif()
