"""The docs site: built offline from the notebooks, every page opened in headless Chromium (no console errors, a
plotly figure drawn, every notebook page in the navigation), screenshots written to artifacts/. Needs Debian's
chromium and the dev extra (sphinx, myst-nb, furo, playwright); skipped, saying what is missing, without them."""
import functools, http.server, importlib.util, shutil, sys, threading, time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which('chromium') or '/usr/bin/chromium'
ARTIFACTS = ROOT / 'artifacts'
missing = [m for m in ('sphinx', 'myst_nb', 'furo', 'playwright') if importlib.util.find_spec(m) is None]
pytestmark = [pytest.mark.browser, pytest.mark.skipif(bool(missing), reason=f'needs {missing}: pip install -e ".[dev]"'),
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason='needs chromium: apt-get install chromium')]


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args): pass


@pytest.fixture(scope='module')
def site(tmp_path_factory):
    "The built site, served over HTTP: (base URL, folder)."
    sys.path.insert(0, str(ROOT / 'docs'))
    from build import build
    tmp = tmp_path_factory.mktemp('docs')
    t0 = time.time(); out = build(tmp / 'site', tmp / 'src'); print(f'docs built in {time.time() - t0:.0f} s')
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(Quiet, directory=str(out)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f'http://127.0.0.1:{srv.server_port}/', out
    srv.shutdown()


@pytest.fixture(scope='module')
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=['--no-sandbox'])
        yield b
        b.close()


def visit(page, url: str) -> list:
    "Open `url` and return the console errors and page errors it raised."
    errors = []
    page.on('console', lambda m: errors.append(f'{url}: {m.text}') if m.type == 'error' else None)
    page.on('pageerror', lambda e: errors.append(f'{url}: {e}'))
    page.goto(url); page.wait_for_load_state('load'); page.wait_for_timeout(300)
    return errors


def test_every_page_opens_without_errors(site, browser):
    base, out = site
    pages = sorted(str(p.relative_to(out)) for p in out.rglob('*.html') if not p.name.startswith(('genindex', 'search', 'py-modindex')))
    errors, page = [], browser.new_page()
    for name in pages: errors += visit(page, base + name)
    assert len(pages) > 30 and not errors, errors


def test_navigation_reaches_every_notebook_page(site, browser):
    base, out = site
    page = browser.new_page(); visit(page, base + 'index.html')
    linked = {Path(h.split('#')[0]).with_suffix('').as_posix() for h in page.eval_on_selector_all('.sidebar-tree a', 'as => as.map(a => a.getAttribute("href"))')}
    notebooks = {p.relative_to(ROOT / 'nbs').with_suffix('').as_posix() for p in (ROOT / 'nbs').rglob('[0-9][0-9]_*.ipynb')}
    assert notebooks <= linked, sorted(notebooks - linked)


def test_plotly_figures_are_drawn_offline_and_screenshots(site, browser):
    base, _ = site
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport=dict(width=1280, height=900))
    assert not visit(page, base + 'tutorials/04_geometry.html')
    page.wait_for_selector('.js-plotly-plot .main-svg', timeout=20_000)   # drawn by the plotly.js the site ships
    page.locator('.js-plotly-plot').first.scroll_into_view_if_needed(); page.screenshot(path=str(ARTIFACTS / 'docs_plotly.png'))
    for name, shot in (('index.html', 'docs_home.png'), ('tutorials/02_sampling.html', 'docs_sampling.png')):
        assert not visit(page, base + name)
        page.screenshot(path=str(ARTIFACTS / shot))
    assert all((ARTIFACTS / s).stat().st_size > 10_000 for s in ('docs_home.png', 'docs_sampling.png', 'docs_plotly.png'))
