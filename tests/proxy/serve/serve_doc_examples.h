/* The vendor doc's `serve status --json` examples, shared by the serve
 * config and serve command suites. */
#ifndef TESTS_PROXY_SERVE_SERVE_DOC_EXAMPLES_H
#define TESTS_PROXY_SERVE_SERVE_DOC_EXAMPLES_H

/* The vendor doc's `serve status --json` after `--https=443 text:example`. */
static const char doc_text_example[] = "{\n"
                                       "  \"Services\": {\n"
                                       "    \"svc:web-server\": {\n"
                                       "      \"TCP\": {\n"
                                       "        \"443\": {\n"
                                       "          \"HTTPS\": true\n"
                                       "        }\n"
                                       "      },\n"
                                       "      \"Web\": {\n"
                                       "        \"web-server:443\": {\n"
                                       "          \"Handlers\": {\n"
                                       "            \"/\": {\n"
                                       "              \"Text\": \"example\"\n"
                                       "            }\n"
                                       "          }\n"
                                       "        }\n"
                                       "      }\n"
                                       "    }\n"
                                       "  }\n"
                                       "}";

/* ... and after `--https=443 8081`. */
static const char doc_proxy_example[] = "{\n"
                                        "  \"Services\": {\n"
                                        "    \"svc:web-server\": {\n"
                                        "      \"TCP\": {\n"
                                        "        \"443\": {\n"
                                        "          \"HTTPS\": true\n"
                                        "        }\n"
                                        "      },\n"
                                        "      \"Web\": {\n"
                                        "        \"web-server:443\": {\n"
                                        "          \"Handlers\": {\n"
                                        "            \"/\": {\n"
                                        "              \"Proxy\": \"http://127.0.0.1:8081\"\n"
                                        "            }\n"
                                        "          }\n"
                                        "        }\n"
                                        "      }\n"
                                        "    }\n"
                                        "  }\n"
                                        "}";

#endif
