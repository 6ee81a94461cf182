"""Build the docs site offline: the notebooks as pages (nbdev's directives and hidden cells left out, saved outputs
shown), an API page per module from its docstrings, and plotly.js shipped with the site. `bash .ci/docs` runs it."""
import json, re, shutil, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NBS, DOCS = ROOT / 'nbs', ROOT / 'docs'
HIDDEN = re.compile(r'#\|\s*(hide|default_exp)\b')                # cells the pages leave out
DIRECTIVE = re.compile(r'^#\|.*(\n|$)', re.M)                      # nbdev's directive lines
PYTHON = {'kernelspec': {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'},
          'language_info': {'name': 'python'}}


def page(nb: dict) -> dict:
    "A notebook as a page: hidden cells dropped, directive lines removed, Python as its language (for highlighting)."
    cells = []
    for c in nb['cells']:
        src = ''.join(c['source'])
        if c['cell_type'] == 'code':
            if HIDDEN.match(src): continue
            c = {**c, 'source': DIRECTIVE.sub('', src)}
        cells.append(c)
    return {**nb, 'cells': cells, 'metadata': PYTHON}


def toctree(caption: str, entries: list) -> str:
    return '\n'.join(['```{toctree}', f':caption: {caption}', ':maxdepth: 1', ':hidden:', '', *entries, '```', ''])


def api_page(module: str) -> str:
    return f"# wysiwyg.{module}\n\n```{{eval-rst}}\n.. automodule:: wysiwyg.{module}\n   :members:\n```\n"


def sources(src: Path):
    "Write the site's sources into `src`: pages, API pages, the index with the navigation, images, plotly.js."
    import plotly
    tutorials = sorted((NBS / 'tutorials').glob('[0-9][0-9]_*.ipynb'))
    stages = sorted(NBS.glob('[0-9][0-9]_*.ipynb'))
    for nb in tutorials + stages:
        out = src / nb.relative_to(NBS); out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(page(json.loads(nb.read_text()))))
    modules = sorted(p.stem for p in (ROOT / 'wysiwyg').glob('[a-z]*.py'))
    (src / 'api').mkdir()
    for m in modules: (src / 'api' / f'{m}.md').write_text(api_page(m))
    index = page(json.loads((NBS / 'index.ipynb').read_text()))
    nav = (toctree('Start here and tutorials', [str(p.relative_to(NBS).with_suffix('')) for p in tutorials])
           + toctree('The method, stage by stage', [p.stem for p in stages])
           + toctree('API reference', [f'api/{m}' for m in modules]))
    index['cells'].append({'cell_type': 'markdown', 'id': 'navigation', 'metadata': {}, 'source': nav})
    (src / 'index.ipynb').write_text(json.dumps(index))
    shutil.copytree(NBS / 'images', src / 'images')
    (src / '_static').mkdir()
    shutil.copy(Path(plotly.__file__).parent / 'package_data' / 'plotly.min.js', src / '_static')
    shutil.copy(DOCS / 'conf.py', src); shutil.copytree(DOCS / '_templates', src / '_templates')


def build(out=ROOT / '_docs', work=ROOT / '_proc') -> Path:
    "Build the site into `out` (replaced) from sources written to `work` (replaced)."
    out, work = Path(out), Path(work)
    for d in (out, work): shutil.rmtree(d, ignore_errors=True)
    work.mkdir(parents=True); sources(work)
    out.parent.mkdir(parents=True, exist_ok=True)
    site = work / '_site'                     # built inside `work`, where myst-nb also leaves its jupyter_execute/
    r = subprocess.run([sys.executable, '-m', 'sphinx', '-b', 'html', '-q', '-j', 'auto', str(work), str(site)],
                       capture_output=True, text=True)
    if r.returncode: raise SystemExit(f"sphinx-build failed:\n{r.stderr[-4000:]}")
    if r.stderr.strip(): print(r.stderr.strip(), file=sys.stderr)
    shutil.move(site, out)
    return out


if __name__ == '__main__':
    t0 = time.time()
    site = build(*sys.argv[1:2])
    print(f'docs: {site} built in {time.time() - t0:.0f} s; open {site / "index.html"}')
