# The tailnet CA (SPEC L7-5): deterministic Ed25519 certificates with OpenSSL.
# find_package(OpenSSL) is done by http.cmake, included before this file.
add_library(svc_ca STATIC ${CMAKE_CURRENT_LIST_DIR}/ca.c)
target_include_directories(svc_ca PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(svc_ca PUBLIC OpenSSL::Crypto PRIVATE project_warnings)
