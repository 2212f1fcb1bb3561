# The conformance suite: control + daemons on a simulated three-region
# tailnet, one test per requirement (named by SPEC ID), and the real-mode
# core flow in network namespaces.
if(TARGET svc_tailnet)
  tailsim_test(test_conformance_sim
    ${CMAKE_SOURCE_DIR}/conformance/test_services_sim.c
    ${CMAKE_SOURCE_DIR}/conformance/cf_fixture.c)
  target_link_libraries(test_conformance_sim PRIVATE svc_tailnet svc_magicdns PkgConfig::CJSON)
  set_tests_properties(test_conformance_sim PROPERTIES TIMEOUT 1800)
endif()

# The real-mode core flow in network namespaces (helper h9).
include(${CMAKE_SOURCE_DIR}/conformance/real_tests.cmake)
