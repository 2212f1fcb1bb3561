#!/usr/bin/env python3
"""Builds the conformance matrix: every requirement ID of the SPEC with the
tests that name it, their results and where they ran, from the Criterion
JSON reports the suites write (tests/CMakeLists.txt passes --json).

An ID without a passing test is a gap; the summary line counts the IDs
with a passing test and the gaps, and lists the gaps.
"""
import argparse
import fnmatch
import glob
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
IDS_FILE = os.path.join(HERE, "..", "conformance", "spec-ids.txt")

# The requirement families SPEC.md numbers (FAMILY-N).
FAMILIES = ("SVC", "CFG", "APR", "ACL", "STR", "DRN", "STA", "L7", "L4", "L3", "LIM", "HAR",
            "HC", "REL", "SEC", "EXP", "PRF")
FAMILY_TOKEN = re.compile(r"^(%s)(\d*)$" % "|".join(f.lower() for f in FAMILIES))

# Where a test binary's tests run (the "ran in" column): the first pattern
# matching BINARY/SUITE (fnmatch) decides; a binary not listed is "unit".
# Decided from each suite's fixtures: grep tests/ conformance/ for netns.h,
# fixture_epoll, pg_fixture, SVCD_PATH (real) and fixture_sim,
# dp_fixture_sim, svc_tailnet, svc_sim, SIMRUN_PATH (simulator). A new
# suite that runs real processes or the simulator adds a line here.
MODES = (
    ("*_real/*", "real", "svcd, controld, curl, psql: processes in netns"),
    ("*_epoll/*", "real", "epoll seam backend: real sockets, TUN, netns"),
    ("test_tcp_proxy_pg/*", "real", "a real PostgreSQL server and psql"),
    ("test_svcd_loop/*", "real", "svcd's epoll loop on real fds"),
    ("test_io_epoll_limits/*", "real", "the epoll backend under RLIMIT_NOFILE"),
    ("*_sim/*", "sim", "the sim seam backend on ns-3"),
    ("test_simrun/*", "sim", "simrun runs scenarios"),
    ("test_perfrun/*", "sim", "perfrun runs the suite's scenarios with simrun"),
    ("test_scenario/simrun", "sim", "simrun runs scenarios"),
    ("test_workloads/*", "sim", "client workloads in an ns-3 world"),
    ("test_control/*", "sim", "control on the sim seam"),
    ("test_magicdns/*", "sim", "MagicDNS over simulated UDP"),
    ("test_ns3w/*", "sim", "the ns-3 wrapper"),
    ("test_ns3_tcp_fixes/*", "sim", "ns-3's TCP"),
)

# Scenario-loader suites: their tests check how the harness reads a
# scenario file (an error message about a key), not the product. They
# credit only these families and IDs; any other ID they name is shown as
# not counted.
LOADER_SUITES = ("test_scenario/scenario_*", "test_scenario/docs")
LOADER_CREDITS = ("HAR-*", "REL-5")

EPILOG = """\
rules:
  IDs      conformance/spec-ids.txt lists every ID (one a line: ID, then a
           short reminder); --spec SPEC.md checks it against the SPEC.
  naming   A test credits the IDs its name (not its suite) names, split at
           '_', any case: FAMILY+N (`drn1`) or FAMILY then N (`drn_1`);
           further number tokens right after an ID name more IDs of the same
           family (`drn_1_2` = DRN-1 and DRN-2, `cfg_6_7_8` = CFG-6..8,
           `str_7_8`), and another family starts a new list (`drn1_drn2`,
           `cfg_12_apr_1_2`). Numbers the SPEC does not list are ignored
           (`lim_64_services` names no ID).
           Families: %(families)s.
  status   From Criterion's JSON: PASSED, FAILED, ERRORED (crashed or timed
           out), SKIPPED (cr_skip, or .disabled). Per ID: covered (a passing
           test, none failing), FAILING (a test failed or errored), skipped
           (only skipped tests), gap (no test). Every ID without a passing
           test is a gap in the summary.
  ran in   Per test, from BINARY/SUITE: the first matching pattern of
           MODES in this script:
%(modes)s
           anything else is unit (in-process logic: neither the simulator
           nor the real host). Per ID, over its passing tests: both (sim
           and real), sim, real, unit, or '-' (none).
  loader   Tests of the scenario loader
           (%(loader)s)
           check how the harness reads a scenario file (error messages about
           keys): they credit only %(credits)s (the harness, and the
           loader's own parser bounds); other IDs they name are listed as
           "not counted".
  JSON     Criterion 2.4 writes assertion messages unescaped, so a report
           with a quote in a message is not valid JSON: such a file is read
           line by line (its layout is fixed) and named on stderr.
""" % {
    "families": " ".join(FAMILIES),
    "modes": "\n".join("             %-21s %-4s %s" % m for m in MODES),
    "loader": ", ".join(LOADER_SUITES),
    "credits": " and ".join(LOADER_CREDITS),
}


def load_ids(path):
    """[(ID, reminder)] in file order."""
    ids = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                ident, _, title = line.partition(" ")
                ids.append((ident, title))
    return ids


def spec_ids(path):
    """The IDs SPEC.md numbers: list items `- FAMILY-N ...`."""
    pat = re.compile(r"^- ((?:%s)-\d+)\b" % "|".join(FAMILIES))
    with open(path) as f:
        return [m.group(1) for m in map(pat.match, f) if m]


def ids_named(test_name):
    """The IDs a test name names, in order, without repeats."""
    out = []
    family = None  # the family a following number token continues
    pending = None  # a bare family token (`drn`) waiting for its number
    for tok in test_name.lower().split("_"):
        m = FAMILY_TOKEN.match(tok)
        if m:
            family = None
            if m.group(2):
                family = m.group(1).upper()
                out.append("%s-%d" % (family, int(m.group(2))))
                pending = None
            else:
                pending = m.group(1).upper()
            continue
        if tok.isdigit() and (pending or family):
            family = pending or family
            pending = None
            out.append("%s-%d" % (family, int(tok)))
            continue
        family = pending = None
    seen = set()
    return [i for i in out if not (i in seen or seen.add(i))]


def mode_of(binary, suite):
    key = "%s/%s" % (binary, suite)
    for pattern, mode, _ in MODES:
        if fnmatch.fnmatchcase(key, pattern):
            return mode
    return "unit"


def is_loader(binary, suite):
    key = "%s/%s" % (binary, suite)
    return any(fnmatch.fnmatchcase(key, p) for p in LOADER_SUITES)


def loader_credits(ident):
    return any(fnmatch.fnmatchcase(ident, p) for p in LOADER_CREDITS)


NAME_LINE = re.compile(r'^\s*"name": "([^"]*)",?\s*$')
STATUS_LINE = re.compile(r'^\s*"status": "([A-Z]+)"')


def read_report(path):
    """[(suite, test, status)] of one Criterion JSON report, and whether
    it had to be read line by line."""
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    try:
        report = json.loads(text)
        return [(str(s.get("name", "")), str(t.get("name", "")), str(t.get("status", "?")))
                for s in report.get("test_suites", []) for t in s.get("tests", [])], False
    except (ValueError, AttributeError, TypeError):
        pass  # not JSON, or not Criterion's shape
    # One key a line: a test's "name" is followed by its "assertions", a
    # suite's by its counts; the test's "status" comes next.
    rows, suite, test = [], "", None
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = NAME_LINE.match(line)
        if m:
            nxt = lines[i + 1] if i + 1 < len(lines) else ""
            if '"assertions"' in nxt:
                test = m.group(1)
            else:
                suite, test = m.group(1), None
            continue
        m = STATUS_LINE.match(line)
        if m and test is not None:
            rows.append((suite, test, m.group(1)))
            test = None
    return rows, True


def collect(dirs, known):
    """ID -> [test], a test being a dict; known: the IDs to credit."""
    tests = {i: [] for i in known}
    for d in dirs:
        paths = sorted(glob.glob(os.path.join(d, "*.json")))
        if not paths:
            print("conformance-matrix: no Criterion reports in %s" % d, file=sys.stderr)
        for path in paths:
            binary = os.path.splitext(os.path.basename(path))[0]
            try:
                rows, by_line = read_report(path)
            except OSError as e:
                print("conformance-matrix: %s: %s" % (path, e), file=sys.stderr)
                continue
            if by_line:
                print("conformance-matrix: %s is not a valid JSON report (Criterion does not "
                      "escape messages); read line by line: %d tests" % (path, len(rows)),
                      file=sys.stderr)
            for suite, name, status in rows:
                loader = is_loader(binary, suite)
                for ident in ids_named(name):
                    if ident not in tests:
                        continue
                    tests[ident].append({
                        "binary": binary, "suite": suite, "name": name, "status": status,
                        "mode": mode_of(binary, suite),
                        "counted": not loader or loader_credits(ident),
                    })
    return tests


def id_status(ts):
    counted = [t for t in ts if t["counted"]]
    if any(t["status"] in ("FAILED", "ERRORED") for t in counted):
        return "FAILING"
    if any(t["status"] == "PASSED" for t in counted):
        return "covered"
    if counted:
        return "skipped"
    return "gap"


def id_mode(ts):
    modes = {t["mode"] for t in ts if t["counted"] and t["status"] == "PASSED"}
    if {"sim", "real"} <= modes:
        return "both"
    for m in ("sim", "real", "unit"):
        if m in modes:
            return m
    return "-"


def test_cell(t):
    if not t["counted"]:
        how = "%s, loader diagnostics: not counted" % t["status"]
    else:
        how = "%s, %s" % (t["status"], t["mode"])
    return "%s: %s::%s (%s)" % (t["binary"], t["suite"], t["name"], how)


def build(ids, tests):
    """The Markdown text and the summary numbers."""
    rows, gaps, failing, skipped = [], [], [], []
    for ident, title in ids:
        ts = tests[ident]
        counted = [t for t in ts if t["counted"]]
        passing = [t for t in counted if t["status"] == "PASSED"]
        status = id_status(ts)
        if not passing:
            gaps.append(ident)
        if status == "FAILING":
            failing.append(ident)
        elif status == "skipped":
            skipped.append(ident)
        names = "<br>".join(test_cell(t) for t in ts) or "none"
        rows.append("| %s | %s | %s | %d/%d | %s | %s |" % (
            ident, title, names, len(passing), len(counted), id_mode(ts), status))
    covered = len(ids) - len(gaps)
    head = ["# Conformance matrix", "",
            "Generated by scripts/conformance-matrix.py from the test run's Criterion reports "
            "(its --help gives the rules).", "",
            "%d of %d requirement IDs have a passing test; %d are gaps%s." % (
                covered, len(ids), len(gaps), (": " + ", ".join(gaps)) if gaps else ""), "",
            "| ID | requirement | tests | passing | ran in | status |",
            "|---|---|---|---|---|---|"]
    return "\n".join(head + rows) + "\n", covered, gaps, failing, skipped


def main(argv):
    ap = argparse.ArgumentParser(
        prog="conformance-matrix.py",
        description="Writes the conformance matrix (every SPEC requirement ID with its tests, "
        "their results and where they ran) from Criterion JSON reports, and prints a summary: "
        "how many IDs have a passing test, how many are gaps, and which. Exits 0 (gaps are "
        "reported, not fatal), 1 when --spec finds spec-ids.txt out of date, 2 on bad usage.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dirs", nargs="+", metavar="RESULTS_DIR",
                    help="folder of Criterion JSON reports, one per test binary (BINARY.json)")
    ap.add_argument("--out", metavar="FILE.md", help="where to write the matrix")
    ap.add_argument("--ids", metavar="FILE", default=IDS_FILE,
                    help="the ID list (default conformance/spec-ids.txt)")
    ap.add_argument("--spec", metavar="SPEC.md",
                    help="check that the ID list names exactly the IDs SPEC.md numbers")
    args = ap.parse_args(argv)

    ids = load_ids(args.ids)
    rc = 0
    if args.spec:
        want, have = spec_ids(args.spec), [i for i, _ in ids]
        missing = [i for i in want if i not in have]
        extra = [i for i in have if i not in want]
        if missing or extra:
            print("conformance-matrix: %s does not match %s:%s%s" % (
                args.ids, args.spec, (" missing " + " ".join(missing)) if missing else "",
                (" not in the SPEC " + " ".join(extra)) if extra else ""), file=sys.stderr)
            rc = 1
    tests = collect(args.dirs, [i for i, _ in ids])
    text, covered, gaps, failing, skipped = build(ids, tests)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    print("conformance matrix: %d of %d requirement IDs have a passing test, %d are gaps%s" % (
        covered, len(ids), len(gaps), (" (" + args.out + ")") if args.out else ""))
    if gaps:
        print("gaps: " + " ".join(gaps))
    if failing:
        print("failing: " + " ".join(failing))
    if skipped:
        print("only skipped: " + " ".join(skipped))
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
