/* Planted defects for the mutant build (EXP-5): the harness proves its
 * power by killing deliberately wrong versions of the product.
 *
 * `if (MUTANT("name")) { ...defect... }` sits at a real decision point. In
 * an ordinary build (TAILSIM_MUTANTS undefined) MUTANT() is the constant
 * false: the compiler drops the branch and the name, so the product is
 * unchanged. A mutant build (cmake -DTAILSIM_MUTANTS=ON, refused for
 * Release) makes MUTANT(name) true iff `name` is listed in the environment
 * variable TAILSIM_MUTANT (comma-separated), read at each call: no state is
 * kept. Every name is in lib/base/mutant_catalogue.h, with what it breaks
 * and the requirement it violates; scripts/mutants.sh runs the suites
 * against each and checks that every MUTANT("...") in the tree is listed. */
#ifndef LIB_BASE_MUTANT_H
#define LIB_BASE_MUTANT_H

#include <stdbool.h>
#include <stddef.h>

#ifdef TAILSIM_MUTANTS
/* True iff `name` is listed in TAILSIM_MUTANT. */
bool mutant_on(const char *name);
#define MUTANT(name) mutant_on(name)
#else
#define MUTANT(name) false
#endif

/* For a daemon's start (svcd_new, control_new): 0, or -EINVAL with err
 * saying why TAILSIM_MUTANT cannot be honoured: it names a mutant the
 * catalogue does not list, or this build has no mutants compiled in. An
 * unset or empty TAILSIM_MUTANT is always fine. */
int mutant_check_env(char *err, size_t err_len);

#endif
