"The main job (`wysiwyg-demo`) end to end, as a user runs it (its answers to bad arguments are in test_bad_inputs.py)."
import json, os, shutil, subprocess, sys
from pathlib import Path

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
