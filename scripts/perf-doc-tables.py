#!/usr/bin/env python3
"""Regenerates the perf tables docs/benchmarks.md embeds, so none is copied
by hand: each block between
    <!-- perfrun table FILE -->
and
    <!-- end perfrun table -->
becomes `perfrun table FILE` (FILE relative to the repository). With
--check, changes nothing and exits 1 when a block differs from its file.

usage: scripts/perf-doc-tables.py BUILD_DIR [--check] [DOC]
"""
import os
import re
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
BLOCK = re.compile(r"(<!-- perfrun table (\S+) -->\n)(.*?)(<!-- end perfrun table -->)", re.S)


def main(argv):
    args = [a for a in argv[1:] if a != "--check"]
    check = "--check" in argv
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    perfrun = os.path.join(args[0], "perfrun")
    doc = args[1] if len(args) > 1 else os.path.join(ROOT, "docs", "benchmarks.md")
    text = open(doc).read()
    stale = []

    def table(m):
        out = subprocess.run([perfrun, "table", os.path.join(ROOT, m.group(2))],
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit("perfrun table %s: %s" % (m.group(2), out.stderr.strip()))
        if m.group(3) != out.stdout:
            stale.append(m.group(2))
        return m.group(1) + out.stdout + m.group(4)

    new = BLOCK.sub(table, text)
    if check:
        for f in stale:
            print("%s: the table of %s is stale; run scripts/perf-doc-tables.py %s" %
                  (doc, f, args[0]))
        return 1 if stale else 0
    if new != text:
        open(doc, "w").write(new)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
