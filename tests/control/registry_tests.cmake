tailsim_test(test_registry ${CMAKE_CURRENT_LIST_DIR}/test_registry.c)
target_link_libraries(test_registry PRIVATE svc_registry)
