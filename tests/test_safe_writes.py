"""Nothing a user already has is lost: every console script refuses to replace an existing output unless asked
(`--overwrite`), never replaces a folder, a symlink or a FIFO, says so in one line naming the file, and does it
before any long work. Table-driven: one row a (script, what stands at the output) case."""
import os, subprocess, sys, time
from pathlib import Path

import pytest

from cli_runner import run_many

BIN = Path(sys.executable).parent
SHIPPED = Path(__file__).resolve().parent.parent / 'data' / 'proposal_128.pt'

# script -> (arguments that make it run tiny, given the output path; the file inside `out` that the check is about)
SCRIPTS = {
    'wysiwyg-dataset': (lambda out: ['--out', out, '--n', '2', '--res', '8', '--quiet'], None),
    'wysiwyg-train-proposal': (lambda out: ['--out', out, '--steps', '1', '--res', '64', '--scenes', '1', '--batch', '1',
                                            '--eval', '0', '--calibrate', '0', '--quiet'], None),
    'wysiwyg-bench': (lambda out: ['sampler', '--out', out, '--res', '8', '--scenes', '1', '--budgets', '8',
                                   '--reference', '16', '--device', 'cpu', '--proposal', SHIPPED], 'sampler.json'),
    'wysiwyg-demo': (lambda out: ['--out', out, '--res', '8', '--samples', '4', '--reference', '16',
                                  '--dataset_res', '8', '--dataset_n', '2', '--scenes', 'sphere'], 'summary.json'),
}


def run(script, args, tmp_path):
    env = dict(os.environ, WYSIWYG_DATA=str(tmp_path / 'data'))
    t0 = time.perf_counter()
    r = subprocess.run([str(BIN / script), *map(str, args)], capture_output=True, text=True, env=env, timeout=600)
    return r, time.perf_counter() - t0


def snapshot(folder: Path) -> dict:
    "Every path below `folder` with its bytes (files), link target (links) or kind: what must not change."
    out = {}
    for p in sorted(folder.rglob('*')):
        if p.is_symlink(): out[p] = ('link', os.readlink(p))
        elif p.is_fifo(): out[p] = 'fifo'
        elif p.is_file(): out[p] = p.read_bytes()
        else: out[p] = 'dir'
    return out


def plant(kind: str, target: Path, tmp_path: Path):
    "Put something of `kind` at `target`."
    target.parent.mkdir(parents=True, exist_ok=True)
    if kind == 'file': target.write_text('a thesis, five years of work')
    elif kind == 'folder': target.mkdir(); (target / 'notes.txt').write_text('keep me')
    elif kind == 'symlink':
        (tmp_path / 'precious.txt').write_text('the link points here')
        target.symlink_to(tmp_path / 'precious.txt')
    elif kind == 'fifo': os.mkfifo(target)


MESSAGES = {'file': 'already exists; pass --overwrite', 'folder': 'is a folder', 'symlink': 'is a symbolic link',
            'fifo': 'is a FIFO'}
CASES = [(s, k) for s in SCRIPTS for k in MESSAGES]


def _case_paths(script, kind, folder):
    "The output to pass and the path the check is about."
    inner = SCRIPTS[script][1]
    out = folder / 'out' / ('result' if inner else 'result.bin')
    return out, (out / inner if inner else out)


@pytest.fixture(scope='module')
def kept(tmp_path_factory):
    "Every case in its own folder, all run in one Python process: (result, folder before, folder after) per case."
    folders = {c: tmp_path_factory.mktemp('-'.join(c)) for c in CASES}
    for (script, kind), f in folders.items(): plant(kind, _case_paths(script, kind, f)[1], f)
    before = {c: snapshot(f) for c, f in folders.items()}
    jobs = [[s, SCRIPTS[s][0](_case_paths(s, k, f)[0]) + (['--overwrite'] if k != 'file' else []), f,
             dict(WYSIWYG_DATA=str(f / 'data'))] for (s, k), f in folders.items()]
    return {c: (r, before[c], snapshot(f), _case_paths(*c, f)[1]) for (c, f), r in zip(folders.items(), run_many(jobs))}


@pytest.mark.parametrize('script,kind', CASES)
def test_existing_output_is_kept(script, kind, kept):
    r, before, after, target = kept[script, kind]
    assert r['returncode'] != 0, r['stdout']
    last = r['stderr'].strip().splitlines()[-1]
    assert str(target) in last and MESSAGES[kind] in last, r['stderr']
    assert 'Traceback' not in r['stderr']
    assert after == before                                 # nothing changed, nothing added (no dataset built either)
    assert r['seconds'] < 60, f"{script} took {r['seconds']:.0f} s to refuse: the check must come before the work"


@pytest.mark.parametrize('script', ['wysiwyg-dataset', 'wysiwyg-bench'])
def test_overwrite_replaces_a_file_when_asked(script, tmp_path):
    args, inner = SCRIPTS[script]
    out = tmp_path / 'out' / ('result' if inner else 'result.zip')
    target = out / inner if inner else out
    plant('file', target, tmp_path)
    r, _ = run(script, args(out) + ['--overwrite'], tmp_path)
    assert r.returncode == 0, r.stderr
    assert target.read_bytes() != b'a thesis, five years of work'
    assert not list(target.parent.glob('.*.tmp'))
