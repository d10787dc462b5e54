#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""checksyncd integration tests: the real daemon against real peers.

  python3 test/integration/run.py --daemon PATH --standin PATH [-k PATTERN] [-v]

Every test runs its own private D-Bus daemon, provisioning stand-in and
checksyncd (the daemon allows one D-Bus call per method per 5 s, so state
must not leak between tests). SIP peers: sipsak, sipp and a raw Python
client. The last line printed is "integration: N passed, N failed".

The tests are the test_*.py modules beside this runner; -k PATTERN selects
by test id, which starts with the module ("-k test_seed." runs the seed's
flows).
"""

import argparse
import os
import re
import shutil
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import test_actions  # noqa: E402
import test_amplification  # noqa: E402
import test_auth  # noqa: E402
import test_budget  # noqa: E402
import test_command_line  # noqa: E402
import test_dialects  # noqa: E402
import test_filter  # noqa: E402
import test_guard  # noqa: E402
import test_handoff  # noqa: E402
import test_mutual_auth  # noqa: E402
import test_pnp  # noqa: E402
import test_provisioning  # noqa: E402
import test_reload  # noqa: E402
import test_requests  # noqa: E402
import test_security  # noqa: E402
import test_seed  # noqa: E402
import test_settings  # noqa: E402
import test_sipp  # noqa: E402
import test_status  # noqa: E402
import test_tcp  # noqa: E402
import test_transports  # noqa: E402
import test_ua  # noqa: E402


# ---------------------------------------------------------------------------
# Runner

class Result(unittest.TextTestResult):
    """Adds the test environment's logs to every failure and error."""

    def _with_diagnostics(self, test, lst):
        env = getattr(test, "env", None)
        if env is not None and lst and lst[-1][0] is test:
            try:
                lst[-1] = (test, lst[-1][1] + env.diagnostics())
            except Exception as e:  # never lose the failure itself
                lst[-1] = (test, lst[-1][1] + f"\n(diagnostics failed: {e})")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._with_diagnostics(test, self.failures)

    def addError(self, test, err):
        super().addError(test, err)
        self._with_diagnostics(test, self.errors)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--daemon", required=True, help="the checksyncd binary")
    parser.add_argument("--standin", required=True, help="the provisioning-standin binary")
    parser.add_argument("--nua", help="the checksyncd-nua binary (default: beside the daemon's "
                        "build directory, integrations/sofia-nua/checksyncd-nua)")
    parser.add_argument("-k", dest="patterns", action="append", default=[],
                        help="only run tests whose name contains PATTERN (repeatable)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    harness.use_binaries(args.daemon, args.standin)
    harness.CONFIG["nua"] = os.path.abspath(args.nua or os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(args.daemon))), "integrations",
        "sofia-nua", "checksyncd-nua"))

    loader = unittest.TestLoader()
    if args.patterns:
        loader.testNamePatterns = [p if "*" in p else f"*{p}*" for p in args.patterns]
    suite = unittest.TestSuite()
    for module in (test_seed, test_auth, test_requests, test_provisioning, test_settings,
                   test_sipp, test_command_line, test_transports, test_security, test_reload,
                   test_dialects, test_actions, test_guard, test_status, test_tcp, test_filter,
                   test_pnp, test_handoff, test_mutual_auth, test_amplification, test_ua,
                   test_budget):
        suite.addTests(loader.loadTestsFromModule(module))

    problems = []
    for what, path in (("--daemon", args.daemon), ("--standin", args.standin)):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            problems.append(f"{what} {path}: not an executable file")
    for tool in ("dbus-daemon", "dbus-send", "busctl", "setpriv", "sipsak", "sipp", "dnsmasq", "ip"):
        if not shutil.which(tool):
            problems.append(f"{tool} is not installed (the tests that need it will fail)")
    for p in problems:
        print(f"integration: warning: {p}", flush=True)

    started = time.monotonic()
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=2 if args.verbose else 1,
                                     resultclass=Result)
    result = runner.run(suite)
    elapsed = time.monotonic() - started

    failed_ids = set()
    for test, _ in result.failures + result.errors + result.skipped:
        failed_ids.add(test.id() if hasattr(test, "id") else str(test))
    for test in result.unexpectedSuccesses:
        failed_ids.add(test.id())
    # A subtest failure is reported against the subtest; count its parent.
    failed_ids = {re.sub(r" \(.*\)$", "", i) for i in failed_ids}
    failed = len(failed_ids)
    passed = max(0, result.testsRun - failed)
    if result.skipped:
        print(f"integration: {len(result.skipped)} test(s) skipped, counted as failed")
    if result.testsRun == 0:
        print("integration: no test matched", flush=True)
    print(f"integration: run time {elapsed:.1f} s", flush=True)
    sys.stderr.flush()
    print(f"integration: {passed} passed, {failed} failed", flush=True)
    return 1 if failed or result.testsRun == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
