"""The test session's own checks: a test that takes more than `LIMIT_S` seconds (setup, call and teardown together)
fails the session with one line naming it, so the fast tier stays fast; such a case belongs in the slow tier
(`@pytest.mark.slow`), which the README's test command leaves out."""
import os
import pytest

LIMIT_S = float(os.environ.get("WYSIWYG_TEST_LIMIT_S", 120))  # the environment may lower it (to test this check)
_seconds: dict = {}


def pytest_runtest_logreport(report):
    _seconds[report.nodeid] = _seconds.get(report.nodeid, 0.) + report.duration


def _too_slow(config) -> list:
    if hasattr(config, 'workerinput'): return []                       # an xdist worker: the controller decides
    return sorted(((s, n) for n, s in _seconds.items() if s > LIMIT_S), reverse=True)


def pytest_terminal_summary(terminalreporter, config):
    for s, name in _too_slow(config):
        terminalreporter.write_line(f"too slow: {name} took {s:.0f} s, over the {LIMIT_S} s limit for one test "
                                    "(make it smaller or mark it slow)", red=True)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    if _too_slow(session.config) and exitstatus == 0: session.exitstatus = 1
