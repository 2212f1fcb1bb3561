# The report writers (SPEC HAR-4, HAR-5): outputs from synthetic events.
tailsim_test(test_reports reports/test_reports.c)
target_link_libraries(test_reports PRIVATE svc_reports PkgConfig::CJSON)
target_compile_definitions(test_reports PRIVATE REPORTDIFF_PATH="$<TARGET_FILE:reportdiff>")
add_dependencies(test_reports reportdiff)
