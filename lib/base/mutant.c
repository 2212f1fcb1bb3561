/* MUTANT() and the start-up check of TAILSIM_MUTANT (see mutant.h). Only a
 * mutant build compiles the catalogue in; an ordinary one refuses the
 * variable so a mutant run never silently tests the real code. */
#include "lib/base/mutant.h"

#include "lib/base/errfmt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#ifdef TAILSIM_MUTANTS
#include "lib/base/check.h"
#include "lib/base/mutant_catalogue.h"

#define MUTANT_NAME_ONLY(name, req, where, what) name,
static const char *const mutant_names[] = {MUTANT_CATALOGUE(MUTANT_NAME_ONLY)};
#define MUTANT_COUNT (sizeof(mutant_names) / sizeof(mutant_names[0]))

static bool mutant_known(const char *name, size_t len)
{
	for (size_t i = 0; i < MUTANT_COUNT; i++)
		if (strlen(mutant_names[i]) == len && memcmp(mutant_names[i], name, len) == 0)
			return true;
	return false;
}

/* Does the comma-separated `list` hold `name` (len bytes)? */
static bool mutant_listed(const char *list, const char *name, size_t len)
{
	for (const char *p = list; *p;) {
		size_t n = strcspn(p, ",");
		if (n == len && memcmp(p, name, len) == 0)
			return true;
		p += n;
		if (*p == ',')
			p++;
	}
	return false;
}

bool mutant_on(const char *name)
{
	const char *list = getenv("TAILSIM_MUTANT");
	size_t len = strlen(name);

	/* A MUTANT("...") the catalogue lacks is a programming error. */
	CHECK(mutant_known(name, len));
	return list && mutant_listed(list, name, len);
}

int mutant_check_env(char *err, size_t err_len)
{
	const char *list = getenv("TAILSIM_MUTANT");

	for (const char *p = list ? list : ""; *p;) {
		size_t n = strcspn(p, ",");
		if (!mutant_known(p, n))
			return err_setf(err, err_len, -EINVAL,
			                "TAILSIM_MUTANT: unknown mutant \"%.*s\" (the names are in "
			                "lib/base/mutant_catalogue.h)",
			                (int)(n > 64 ? 64 : n), p);
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}
#else
int mutant_check_env(char *err, size_t err_len)
{
	const char *list = getenv("TAILSIM_MUTANT");

	if (list && *list)
		return err_setf(err, err_len, -EINVAL,
		                "TAILSIM_MUTANT is set but this build has no mutants (configure "
		                "with -DTAILSIM_MUTANTS=ON)");
	return 0;
}
#endif
