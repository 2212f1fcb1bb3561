/* Did-you-mean: the nearest candidate within a small edit distance, for
 * every message about an unknown key, name or word. */
#include "sim/scenario/scenario_int.h"

#include <stdio.h>
#include <string.h>

#define NEAR_MAX 2 /* the edit distance a did-you-mean accepts */

/* The edit distance between a and b when it is at most NEAR_MAX, else
 * NEAR_MAX + 1. Only cells within NEAR_MAX of the diagonal can hold a
 * near miss, so only those are computed: linear in the length, however
 * long the words (a hint is sought for every unknown key). */
static unsigned near_distance(const char *a, size_t la, const char *b, size_t lb)
{
	enum { FAR = NEAR_MAX + 1 };
	unsigned row[SCENARIO_LOGIN_MAX + 2];

	if (la > lb + NEAR_MAX || lb > la + NEAR_MAX || lb > SCENARIO_LOGIN_MAX)
		return FAR;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j <= NEAR_MAX ? (unsigned)j : FAR;
	for (size_t i = 1; i <= la; i++) {
		size_t lo = i > NEAR_MAX ? i - NEAR_MAX : 1;
		size_t hi = i + NEAR_MAX < lb ? i + NEAR_MAX : lb;
		unsigned diag = row[lo - 1], least = FAR;
		/* row[j] still holds row i-1 for j >= lo; beyond its band it
		 * was never written and reads FAR */
		row[lo - 1] = lo == 1 ? (unsigned)i : FAR;
		if (row[lo - 1] > FAR)
			row[lo - 1] = FAR;
		for (size_t j = lo; j <= hi; j++) {
			unsigned up = row[j];
			unsigned best = diag + (a[i - 1] == b[j - 1] ? 0 : 1);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best < FAR ? best : FAR;
			if (row[j] < least)
				least = row[j];
			diag = up;
		}
		if (least >= FAR)
			return FAR;
	}
	return row[lb];
}

/* The closest candidate within edit distance NEAR_MAX, or NULL. */
const char *ld_nearest(const char *word, const char *const *cands, size_t n)
{
	unsigned best = NEAR_MAX + 1;
	const char *pick = NULL;
	size_t lw = strlen(word);

	if (lw > SCENARIO_LOGIN_MAX + NEAR_MAX) /* no candidate is that long */
		return NULL;
	for (size_t i = 0; i < n; i++) {
		unsigned d = near_distance(word, lw, cands[i], strlen(cands[i]));
		if (d < best) {
			best = d;
			pick = cands[i];
		}
	}
	return pick;
}

/* Fills buf with " (did you mean 'x'?)" for the closest candidate within
 * distance 2, or "". */
void ld_did_you_mean(const char *word, const char *const *cands, size_t n, char *buf, size_t len)
{
	const char *pick = ld_nearest(word, cands, n);

	if (pick)
		snprintf(buf, len, " (did you mean '%s'?)", pick);
	else if (len)
		buf[0] = '\0';
}

/* Did-you-mean hints cost a scan of every candidate: skip them once no
 * more diagnostics are kept (their text would be dropped anyway). */
bool ld_hints_wanted(const struct loader *ld)
{
	return ld->diags->count < SCENARIO_DIAGS_MAX;
}

/* ld_did_you_mean over a list built on the heap (NULL: out of memory, or
 * hints not wanted). */
void ld_hint_from(struct loader *ld, const char *word, const char **cands, size_t n, char *hint,
                  size_t len)
{
	hint[0] = '\0';
	if (cands)
		ld_did_you_mean(word, cands, n, hint, len);
	else if (ld_hints_wanted(ld))
		ld->oom = true;
}
