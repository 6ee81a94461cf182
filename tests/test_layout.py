"""The package's shape: one stage per module in data-path order, each importing only the stages above it; the
console-script module holds argument parsing only; modules stay readable; notebooks speak only of the package."""
import ast, configparser, json, re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NBS, LIB = ROOT / 'nbs', ROOT / 'wysiwyg'


def stage_order() -> dict:
    "module name -> its notebook's number, from `#| default_exp` in nbs/NN_*.ipynb."
    order = {}
    for nb in sorted(NBS.glob('[0-9][0-9]_*.ipynb')):
        for c in json.loads(nb.read_text())['cells']:
            m = re.search(r'#\|\s*default_exp\s+(\w+)', ''.join(c['source']))
            if m: order[m.group(1)] = int(nb.name[:2])
    return order


def imported_stages(path: Path) -> set:
    "The package modules that `path` imports, anywhere in the file (relative or absolute imports)."
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.level == 1: out.add(node.module.split('.')[0])
            elif node.module.startswith('wysiwyg.'): out.add(node.module.split('.')[1])
        elif isinstance(node, ast.Import):
            out |= {a.name.split('.')[1] for a in node.names if a.name.startswith('wysiwyg.')}
    return out


def test_every_module_has_a_stage():
    order = stage_order()
    modules = {p.stem for p in LIB.glob('*.py') if not p.stem.startswith('_')}
    assert modules == set(order), f"modules without a numbered notebook or the reverse: {modules ^ set(order)}"


@pytest.mark.parametrize('module', sorted(stage_order()))
def test_imports_only_run_down_the_data_path(module):
    order = stage_order()
    back = {m for m in imported_stages(LIB / f'{module}.py') if m in order and order[m] >= order[module]}
    assert not back, f"wysiwyg/{module}.py imports {sorted(back)}, which come at or after it in the data path"


def test_an_upward_import_is_caught(tmp_path):
    bad = tmp_path / 'bad.py'
    bad.write_text("def f():\n    from .sampler import render_wysiwyg\n    from wysiwyg.bench import x\n")
    assert imported_stages(bad) == {'sampler', 'bench'}


def test_cli_only_parses_arguments():
    "Every public function in cli.py is a console script declared in settings.ini: library work lives in the stages."
    ini = configparser.ConfigParser(); ini.read(ROOT / 'settings.ini')
    scripts = {line.split('=')[1].strip() for line in ini['DEFAULT']['console_scripts'].split('\n') if '=' in line}
    tree = ast.parse((LIB / 'cli.py').read_text())
    funcs = {f'wysiwyg.cli:{n.name}' for n in tree.body if isinstance(n, ast.FunctionDef) and not n.name.startswith('_')}
    assert funcs == {s for s in scripts if s.startswith('wysiwyg.cli:')}, funcs
    is_error = lambda n: all(getattr(b, 'id', '').endswith('Error') for b in n.bases)   # its own error type is allowed
    assert not [n.name for n in tree.body if isinstance(n, ast.ClassDef) and not is_error(n)]


def test_modules_stay_readable():
    long = {p.name: n for p in LIB.glob('*.py') if not p.stem.startswith('_')
            and (n := len(p.read_text().splitlines())) > 450}
    assert not long, f"modules over 450 lines: {long}"


OUTSIDE = re.compile(r"PAPER\.md|DESIGN\.md|\.\./shared|\bthe issue\b|this issue|this session|closing note|"
                     r"the machines? (this|it was)|test machine|CI machine", re.I)
THREADS = re.compile(r"set_num_threads")


def test_notebooks_speak_only_of_the_package():
    hits = []
    for nb in sorted(NBS.rglob('*.ipynb')):
        for i, c in enumerate(json.loads(nb.read_text())['cells']):
            for m in OUTSIDE.finditer(''.join(c['source'])): hits.append(f"{nb.name} cell {i}: {m.group(0)!r}")
    assert not hits, '\n'.join(hits)


def test_only_console_scripts_set_the_thread_count():
    "A reader's laptop keeps all its cores: notebooks and stages never set torch's thread count; a CLI flag may."
    hits = [p.name for p in list(NBS.rglob('*.ipynb')) + list(LIB.glob('*.py'))
            if THREADS.search(p.read_text()) and not p.name.endswith(('_cli.ipynb', 'cli.py'))]
    assert not hits, hits


def test_readme_is_generated_from_the_index():
    "README.md is nbs/index.ipynb's Markdown (python docs/readme.py writes it): edit the notebook, not the README."
    import sys
    sys.path.insert(0, str(ROOT / 'docs'))
    from readme import readme
    assert (ROOT / 'README.md').read_text() == readme(), 'README.md differs from nbs/index.ipynb: run python docs/readme.py'
