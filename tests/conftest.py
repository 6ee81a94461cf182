"""The test session's own checks. A test that takes more than `LIMIT_S` seconds (setup, call and teardown together)
fails the session with one line naming it, so the fast tier stays fast; such a case belongs in the slow tier
(`@pytest.mark.slow`), which the README's test command leaves out. The summary also says how many browser tests
(`@pytest.mark.browser`) ran and how many were skipped, so that CI can tell that they really ran."""
import os
import pytest

LIMIT_S = float(os.environ.get("WYSIWYG_TEST_LIMIT_S", 120))  # the environment may lower it (to test this check)
_seconds: dict = {}
_browser = dict(ran=set(), skipped=set())


def pytest_runtest_logreport(report):
    _seconds[report.nodeid] = _seconds.get(report.nodeid, 0.) + report.duration
    if 'browser' in report.keywords and (report.when == 'call' or report.skipped):
        _browser['skipped' if report.skipped else 'ran'].add(report.nodeid)


def _too_slow(config) -> list:
    if hasattr(config, 'workerinput'): return []                       # an xdist worker: the controller decides
    return sorted(((s, n) for n, s in _seconds.items() if s > LIMIT_S), reverse=True)


def pytest_terminal_summary(terminalreporter, config):
    if hasattr(config, 'workerinput'): return
    if _browser['ran'] or _browser['skipped']:
        terminalreporter.write_line(f"browser tests: {len(_browser['ran'])} ran, {len(_browser['skipped'])} skipped")
    for s, name in _too_slow(config):
        terminalreporter.write_line(f"too slow: {name} took {s:.0f} s, over the {LIMIT_S} s limit for one test "
                                    "(make it smaller or mark it slow)", red=True)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    if _too_slow(session.config) and exitstatus == 0: session.exitstatus = 1
