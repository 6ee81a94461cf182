"The main job (`wysiwyg-demo`) end to end, as a user runs it, and its answers to bad arguments."
import json, os, shutil, subprocess, sys
from pathlib import Path
import pytest

DEMO = shutil.which('wysiwyg-demo') or str(Path(sys.executable).parent / 'wysiwyg-demo')

def run(*args, tmp_path):
    env = dict(os.environ, WYSIWYG_DATA=str(tmp_path / 'data'), OMP_NUM_THREADS='1')
    return subprocess.run([DEMO, *args], capture_output=True, text=True, env=env, timeout=600)

def test_demo_end_to_end(tmp_path):
    out = tmp_path / 'demo'
    r = run('--out', str(out), '--res', '32', '--samples', '8,32', '--reference', '256',
            '--dataset_res', '32', '--dataset_n', '8', '--scenes', 'sphere,head', tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == ['dataset.png', 'errors.png', 'renders.png', 'summary.json']
    assert (tmp_path / 'data' / 'synthetic_32_n8.zip').is_file()          # the dataset was built where WYSIWYG_DATA says
    summary = json.loads((out / 'summary.json').read_text())
    assert set(summary['scenes']) == {'sphere', 'head'}
    for rows in summary['scenes'].values():
        assert {(r['sampler'], r['spp']) for r in rows} == {(s, n) for s in ('uniform', 'two_pass') for n in (8, 32)}
        by = {(r['sampler'], r['spp']): r for r in rows}
        for s in ('uniform', 'two_pass'): assert by[s, 32]['psnr'] > by[s, 8]['psnr']
    assert 'head: uniform@8' in r.stdout

@pytest.mark.parametrize('args, message', [
    (['--samples', '16,abc'], '--samples must be integers'),
    (['--samples', '1'], '--samples must be integers >= 2'),
    (['--res', '2'], '--res must be at least 4'),
    (['--scenes', 'teapot', '--dataset_res', '16', '--dataset_n', '2', '--res', '8'], "unknown scene(s) ['teapot']"),
])
def test_demo_bad_arguments(tmp_path, args, message):
    r = run('--out', str(tmp_path / 'demo'), *args, tmp_path=tmp_path)
    assert r.returncode != 0
    assert message in r.stderr, r.stderr
    assert not (tmp_path / 'demo' / 'summary.json').exists()
