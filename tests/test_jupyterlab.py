"""The camera explorer in a real JupyterLab: start the server, open a notebook with the explorer, run it, move the
yaw slider and check that the picture changes; a screenshot goes to artifacts/. Needs Debian's chromium, playwright
and jupyterlab; skipped, saying what is missing, without them."""
import importlib.util, json, os, shutil, socket, subprocess, sys, time, urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which('chromium') or '/usr/bin/chromium'
missing = [m for m in ('playwright', 'jupyterlab', 'ipywidgets') if importlib.util.find_spec(m) is None]
pytestmark = [pytest.mark.browser, pytest.mark.skipif(bool(missing), reason=f'needs {missing}: pip install -e ".[dev]"'),
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason='needs chromium: apt-get install chromium')]

CELLS = ["from wysiwyg.files import data_dir\nfrom wysiwyg.widgets import camera_explorer",
         "camera_explorer(data_dir() / 'gan_tiny.pt')"]


def free_port() -> int:
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path):
    "A JupyterLab server on a folder holding explorer.ipynb: its base URL."
    nb = dict(nbformat=4, nbformat_minor=5, metadata=dict(kernelspec=dict(name='python3', display_name='Python 3', language='python')),
              cells=[dict(cell_type='code', id=f'c{i}', metadata={}, execution_count=None, outputs=[], source=s) for i, s in enumerate(CELLS)])
    (tmp_path / 'explorer.ipynb').write_text(json.dumps(nb))
    port = free_port()
    proc = subprocess.Popen([sys.executable, '-m', 'jupyter', 'lab', '--no-browser', f'--port={port}', '--ServerApp.token=',
                             '--ServerApp.password=', f'--ServerApp.root_dir={tmp_path}', '--LabApp.news_url=None', '--allow-root'],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ, OMP_NUM_THREADS='1'))
    base = f'http://127.0.0.1:{port}/'
    for _ in range(120):
        try: urllib.request.urlopen(base + 'api', timeout=1); break
        except OSError: time.sleep(0.5)
    else: proc.kill(); pytest.fail('JupyterLab did not start within a minute')
    yield base
    proc.terminate(); proc.wait(timeout=30)


def explorer_picture(page) -> str:
    "The src of the image the explorer's output area shows now."
    return page.locator('.jupyter-widgets .jp-OutputArea-output img, .widget-output img').first.get_attribute('src')


def test_moving_a_slider_changes_the_picture(lab):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=['--no-sandbox'])
        page = browser.new_page(viewport=dict(width=1400, height=1000))
        page.goto(lab + 'lab/tree/explorer.ipynb')
        page.wait_for_selector('.jp-Notebook .jp-Cell', timeout=60_000)
        page.wait_for_function("document.body.innerText.includes('| Idle')", timeout=60_000)   # the kernel is up
        for attempt in range(2):                                    # a Run All sent while the page settles can be lost
            page.get_by_role('menuitem', name='Run', exact=True).click()
            page.get_by_role('menuitem', name='Run All Cells', exact=True).click()
            try: page.wait_for_selector('.widget-slider', timeout=90_000); break
            except Exception:
                if attempt: raise
        page.wait_for_selector('.widget-output img, .jupyter-widgets .jp-OutputArea-output img', timeout=120_000)
        before = explorer_picture(page)
        readout = page.locator('.widget-readout').first             # the yaw slider's value, editable
        readout.click(); page.keyboard.press('Control+A'); page.keyboard.type('0.5'); page.keyboard.press('Enter')
        for _ in range(120):
            if explorer_picture(page) not in (before, None): break
            page.wait_for_timeout(500)
        (ROOT / 'artifacts').mkdir(exist_ok=True)
        page.screenshot(path=str(ROOT / 'artifacts' / 'jupyterlab_explorer.png'))
        after = explorer_picture(page)
        browser.close()
    assert after not in (before, None), 'the picture did not change after moving the yaw slider'
