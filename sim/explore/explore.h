/* simrun's searching subcommands (EXP-1, EXP-3, EXP-4):
 *
 *   simrun explore SCENARIO --seeds A..B [--jobs N] [--shard K/N] [--out DIR] ...
 *   simrun explore-merge --out DIR SHARD/explore.json...
 *   simrun shrink SCENARIO --seed S [--invariant NAME] [--out DIR] ...
 *
 * argv[0] is the subcommand; `self` is how simrun was called, for the
 * replay and shrink commands printed for a failing seed. Each returns
 * simrun's exit status: 0 nothing broken, 1 a seed broke an invariant (or
 * failed to run), 2 invalid input. */
#ifndef SIM_EXPLORE_EXPLORE_H
#define SIM_EXPLORE_EXPLORE_H

int explore_cmd(int argc, char **argv, const char *self);
int explore_merge_cmd(int argc, char **argv);
int explore_shrink_cmd(int argc, char **argv, const char *self);

#endif
