#!/usr/bin/env python3
"""scripts/conformance-matrix.py on a synthetic results folder: a test name
naming several IDs credits each, skipped is not failing, where each test ran
(sim, real, both), scenario-loader diagnostics do not cover product IDs, and
a Criterion report that is not valid JSON still counts.

Run: python3 tests/scripts/test_conformance_matrix.py (scripts/test.sh does).
CONFORMANCE_MATRIX=path runs another version of the script.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
SCRIPT = os.environ.get("CONFORMANCE_MATRIX",
                        os.path.join(ROOT, "scripts", "conformance-matrix.py"))
IDS = ["SVC-1", "CFG-6", "CFG-7", "CFG-8", "APR-1", "APR-2", "STR-7", "STR-8", "DRN-1",
       "DRN-2", "DRN-5", "L7-1", "L7-4", "HAR-1", "REL-5", "HC-2", "SEC-3", "EXP-6", "PRF-1"]


def report(suites):
    """A Criterion 2.4 JSON report: suites = {suite: [(test, status)]}."""
    return {"id": "Criterion v2.4.1", "test_suites": [
        {"name": s, "tests": [{"name": n, "assertions": 1, "status": st} for n, st in ts]}
        for s, ts in suites.items()]}


# What Criterion 2.4 writes for a failed assertion whose message holds
# quotes: not valid JSON.
BROKEN = """{
  "id": "Criterion v2.4.1",
  "passed": 1,
  "failed": 1,
  "errored": 0,
  "skipped": 0,
  "test_suites": [
    {
      "name": "http_sim",
      "passed": 1,
      "failed": 1,
      "errored": 0,
      "skipped": 0,
      "tests": [
        {
          "name": "l7_1_chunked_body_streams",
          "assertions": 2,
          "status": "FAILED",
          "messages": [
            "test_http_proxy.c:10: body was "abc", not "abd""
          ]
        },
        {
          "name": "l7_4_forwarded_headers",
          "assertions": 1,
          "status": "PASSED"
        }
      ]
    }
  ]
}"""


class Matrix(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        d = os.path.join(cls.tmp.name, "results")
        os.mkdir(d)
        files = {
            "test_svcd_sim": {"svcd_sim": [("drn_1_2_drain_keeps_open_ones", "PASSED"),
                                           ("cfg_6_7_8_changes_apply_live", "PASSED")]},
            "test_svcd_epoll": {"svcd_epoll": [("drn_1_2_drain_keeps_open_ones", "PASSED")]},
            "test_core_real": {"core_real": [
                ("str_7_8_keepalive_clients_across_a_crash", "SKIPPED"),
                ("drn_5_advertise_after_drain", "PASSED")]},
            "test_control": {"control": [("drn1_drn2_confirmed_after_acks", "PASSED"),
                                         ("cfg_12_apr_1_2_core_flow", "PASSED"),
                                         ("hc2_sec_3_unhealthy_host", "ERRORED")]},
            "test_registry": {"registry": [("exp6_cannot_crash_twice", "PASSED"),
                                           ("lim_64_services_parse", "PASSED")]},
            "test_scenario": {
                "scenario_errors": [("svc1_bad_service_name_names_the_rule", "PASSED"),
                                    ("har1_bad_unit_exits_2", "PASSED"),
                                    ("rel5_alias_bomb_is_refused", "PASSED"),
                                    ("prf1_misnamed", "PASSED")],
                "simrun": [("drain_waits_for_handshakes_DRN_1", "PASSED")]},
        }
        for name, suites in files.items():
            with open(os.path.join(d, name + ".json"), "w") as f:
                json.dump(report(suites), f, indent=2)
        with open(os.path.join(d, "test_http_proxy_sim.json"), "w") as f:
            f.write(BROKEN)
        ids = os.path.join(cls.tmp.name, "ids.txt")
        with open(ids, "w") as f:
            f.write("# test IDs\n" + "".join("%s reminder of %s\n" % (i, i) for i in IDS))
        cls.out = os.path.join(cls.tmp.name, "matrix.md")
        r = subprocess.run([sys.executable, SCRIPT, d, "--out", cls.out, "--ids", ids],
                           capture_output=True, text=True)
        cls.rc, cls.stdout, cls.stderr = r.returncode, r.stdout, r.stderr
        cls.rows = {}
        if os.path.exists(cls.out):
            with open(cls.out) as f:
                for line in f:
                    cells = [c.strip() for c in line.strip().strip("|").split("|")]
                    if cells and cells[0] in IDS:
                        cls.rows[cells[0]] = cells

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def row(self, ident):
        """(passing, ran in, status, tests) of an ID's row."""
        self.assertIn(ident, self.rows, "no row for %s; stderr: %s" % (ident, self.stderr))
        cells = self.rows[ident]
        self.assertEqual(len(cells), 6, "columns: ID, requirement, tests, passing, ran in, "
                         "status; got %r" % cells)
        return cells[3], cells[4], cells[5], cells[2]

    def test_every_id_has_a_row(self):
        self.assertEqual(self.rc, 0, self.stderr)
        self.assertEqual(sorted(self.rows), sorted(IDS))

    def test_a_name_naming_several_ids_credits_each(self):
        for ident in ("DRN-2", "CFG-6", "CFG-7", "CFG-8", "APR-1", "APR-2"):
            self.assertEqual(self.row(ident)[2], "covered", ident)
        # drn1_drn2 and drn_1_2 (twice) and the loader-free DRN_1 of simrun
        self.assertEqual(self.row("DRN-1")[0], "4/4")
        self.assertEqual(self.row("DRN-2")[0], "3/3")
        self.assertEqual(self.row("EXP-6")[2], "covered")

    def test_skipped_is_skipped_not_failing_and_is_a_gap(self):
        for ident in ("STR-7", "STR-8"):
            passing, _, status, cell = self.row(ident)
            self.assertEqual(status, "skipped", ident)
            self.assertEqual(passing, "0/1")
            self.assertIn("SKIPPED", cell)

    def test_errored_and_failed_tests_are_failing(self):
        self.assertEqual(self.row("HC-2")[2], "FAILING")
        self.assertEqual(self.row("SEC-3")[2], "FAILING")

    def test_ran_in_sim_real_or_both(self):
        self.assertEqual(self.row("DRN-2")[1], "both")  # svcd_sim + svcd_epoll
        self.assertEqual(self.row("DRN-5")[1], "real")  # core_real
        self.assertEqual(self.row("CFG-6")[1], "sim")
        self.assertEqual(self.row("EXP-6")[1], "unit")  # registry: in-process only
        self.assertIn("(PASSED, real)", self.row("DRN-5")[3])
        self.assertEqual(self.row("STR-7")[1], "-")  # nothing passed anywhere

    def test_scenario_loader_diagnostics_do_not_cover_product_ids(self):
        passing, _, status, cell = self.row("SVC-1")
        self.assertEqual(status, "gap")
        self.assertEqual(passing, "0/0")
        self.assertIn("not counted", cell)
        self.assertEqual(self.row("PRF-1")[2], "gap")
        # the harness's own IDs and the loader's parser bounds do count
        self.assertEqual(self.row("HAR-1")[2], "covered")
        self.assertEqual(self.row("REL-5")[2], "covered")
        # a test of simrun in the same binary is not a loader test
        self.assertIn("test_scenario: simrun::drain_waits_for_handshakes_DRN_1 (PASSED, sim)",
                      self.row("DRN-1")[3])

    def test_a_report_that_is_not_valid_json_still_counts(self):
        self.assertEqual(self.row("L7-1")[2], "FAILING")
        self.assertEqual(self.row("L7-4")[2], "covered")
        self.assertIn("test_http_proxy_sim.json", self.stderr)

    def test_summary_counts_passing_and_gaps_and_lists_the_gaps(self):
        # with a passing test: CFG-6..8 APR-1..2 DRN-1 DRN-2 DRN-5 L7-4 HAR-1 REL-5 EXP-6
        self.assertIn("conformance matrix: 12 of 19 requirement IDs have a passing test, "
                      "7 are gaps", self.stdout)
        gaps = re.search(r"^gaps: (.*)$", self.stdout, re.M)
        self.assertIsNotNone(gaps, self.stdout)
        self.assertEqual(gaps.group(1).split(),
                         ["SVC-1", "STR-7", "STR-8", "L7-1", "HC-2", "SEC-3", "PRF-1"])

    def test_help_states_the_rules(self):
        r = subprocess.run([sys.executable, SCRIPT, "--help"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0)
        for word in ("cfg_6_7_8", "SKIPPED", "both", "loader", "HAR-*"):
            self.assertIn(word, r.stdout)


class SpecIds(unittest.TestCase):
    def test_spec_ids_are_well_formed_and_unique(self):
        fams = ("SVC CFG APR ACL STR DRN STA L7 L4 L3 LIM HAR HC REL SEC EXP PRF").split()
        seen = []
        with open(os.path.join(ROOT, "conformance", "spec-ids.txt")) as f:
            for line in f:
                if not line.strip() or line.startswith("#"):
                    continue
                ident, _, reminder = line.strip().partition(" ")
                self.assertRegex(ident, r"^(%s)-\d+$" % "|".join(fams))
                self.assertTrue(reminder, ident)
                self.assertNotIn(ident, seen)
                seen.append(ident)
        self.assertEqual(len(seen), 96)
        for fam in fams:
            self.assertTrue(any(i.startswith(fam + "-") for i in seen), fam)


if __name__ == "__main__":
    unittest.main(verbosity=1)
