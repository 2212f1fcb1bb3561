/* libFuzzer target: the policy parser must never crash, leak or loop on any
 * input; a policy it accepts keeps its text exactly and parses again; and
 * evaluation over a fixed set of nodes and services stays within bounds. */
#include "control/policy.h"
#include "fuzz/fuzz.h"

#include <stdint.h>
#include <string.h>

static const char *const fz_tags_a[] = {"tag:web", "tag:client"};
static const char *const fz_tags_b[] = {"tag:prod"};

static const struct policy_node fz_nodes[] = {
    {.user = "alice@example.com"},
    {.user = "bob@example.com", .tags = fz_tags_a, .n_tags = 2},
    {.user = NULL, .tags = fz_tags_b, .n_tags = 1},
    {.user = ""},
};

static const struct policy_service fz_svcs[] = {
    {.name = "svc:web", .tags = fz_tags_b, .n_tags = 1},
    {.name = "svc:db"},
};

#define FZ_N(a) (sizeof(a) / sizeof((a)[0]))

static void fz_check_ports(const struct policy_ports *ports)
{
	FUZZ_ASSERT(ports->n <= POLICY_MAX_PORT_RANGES);
	for (size_t i = 0; i < ports->n; i++) {
		FUZZ_ASSERT(ports->r[i].first >= 1 && ports->r[i].first <= ports->r[i].last);
		if (i)
			FUZZ_ASSERT(ports->r[i - 1].proto < ports->r[i].proto ||
			            (ports->r[i - 1].proto == ports->r[i].proto &&
			             ports->r[i - 1].last + 1 < ports->r[i].first));
	}
	(void)policy_ports_allow(ports, POLICY_PROTO_TCP, 443);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy *p, *again;
	struct policy_ports ports;
	char err[POLICY_ERR_LEN];

	if (policy_parse((const char *)data, size, &p, err, sizeof(err)) != 0) {
		FUZZ_ASSERT(err[0] != '\0');
		return 0;
	}
	FUZZ_ASSERT(strlen(policy_text(p)) == size && memcmp(policy_text(p), data, size) == 0);
	FUZZ_ASSERT(policy_parse(policy_text(p), size, &again, err, sizeof(err)) == 0);
	FUZZ_ASSERT(strcmp(policy_text(again), policy_text(p)) == 0);
	policy_free(again);
	for (size_t i = 0; i < FZ_N(fz_nodes); i++) {
		for (size_t j = 0; j < FZ_N(fz_svcs); j++) {
			policy_service_ports(p, &fz_nodes[i], &fz_svcs[j], &ports);
			fz_check_ports(&ports);
			(void)policy_auto_approves(p, &fz_svcs[j], &fz_nodes[i]);
		}
		for (size_t j = 0; j < FZ_N(fz_nodes); j++) {
			policy_node_ports(p, &fz_nodes[i], &fz_nodes[j], &ports);
			fz_check_ports(&ports);
		}
	}
	(void)policy_tag_known(p, "tag:web");
	policy_free(p);
	return 0;
}
