"""The console scripts' answers to bad input, one row a case: the exit status (2 for a flag the command cannot use,
1 for work that fails), one line on stderr naming the flag or file and the problem, no traceback, and nothing in the
folder changed. The library's own bad-input tables live beside it: datasets in test_data.py, checkpoints in
test_checkpoints.py, PDFs and budgets in test_sampler.py, existing outputs in test_safe_writes.py; camera labels
given to the library are at the end of this file."""
import math, os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from cli_runner import run_many
from test_safe_writes import SHIPPED, snapshot

SHIPPED_GAN = Path(__file__).resolve().parent.parent / 'data' / 'gan_tiny.pt'

TINY = {  # flags that make each script run tiny (positional 'what' first; '' marks a switch); a case changes some
    'wysiwyg-dataset': {'--out': 'new.zip', '--n': '2', '--res': '8', '--quiet': ''},
    'wysiwyg-train-proposal': {'--out': 'new.pt', '--steps': '1', '--res': '64', '--scenes': '1', '--batch': '1',
                               '--eval': '0', '--calibrate': '0', '--quiet': ''},
    'wysiwyg-bench': {'what': 'sampler', '--out': 'bench', '--res': '8', '--scenes': '1', '--budgets': '8',
                      '--reference': '16', '--device': 'cpu', '--proposal': str(SHIPPED)},
    'wysiwyg-demo': {'--out': 'demo', '--res': '8', '--samples': '4', '--reference': '16', '--dataset_res': '8',
                     '--dataset_n': '2', '--scenes': 'sphere'},
    'wysiwyg-eval': {'--ckpt': str(SHIPPED_GAN), '--data': 'afile', '--n': '2', '--quiet': ''},
    'wysiwyg-invert': {'--ckpt': str(SHIPPED_GAN), '--image': 'afile', '--out': 'inv', '--w_steps': '1', '--g_steps': '1',
                       '--mesh_res': '16', '--quiet': ''},
}
D, T, B, M, E, I = 'wysiwyg-dataset', 'wysiwyg-train-proposal', 'wysiwyg-bench', 'wysiwyg-demo', 'wysiwyg-eval', 'wysiwyg-invert'

# (id, script, flags replacing the tiny ones (None: drop the flag), exit status, words the last line must hold)
CASES = [
    ('dataset no out', D, {'--out': None}, 2, '--out PATH is required'),
    ('dataset n 0', D, {'--n': '0'}, 2, '--n must be at least 1, got 0'),
    ('dataset n float', D, {'--n': '1e30'}, 2, "argument --n: invalid int value: '1e30'"),
    ('dataset n huge', D, {'--n': str(10 ** 20)}, 2, '--n must be at most 1000000'),
    ('dataset res 2', D, {'--res': '2'}, 2, '--res must be at least 4'),
    ('dataset res huge', D, {'--res': '100000'}, 2, '--res must be at most 4096'),
    ('dataset seed -1', D, {'--seed': '-1'}, 2, '--seed must be at least 0'),
    ('dataset batch -1', D, {'--batch': '-1'}, 2, '--batch must be at least 0'),
    ('dataset threads -1', D, {'--threads': '-1'}, 2, '--threads must be at least 0'),
    ('dataset unknown flag', D, {'--colour': 'red'}, 2, 'unrecognized arguments: --colour red'),
    ('dataset out inside a file', D, {'--out': 'afile/x.zip'}, 1, 'afile is a file, not a folder'),
    ('dataset out a folder', D, {'--out': 'adir'}, 1, 'adir: is a folder'),
    ('dataset out ends with a slash', D, {'--out': 'newdir/'}, 2, "--out newdir/: ends with '/', which names a folder"),
    ('dataset out exists', D, {'--out': 'precious.zip'}, 1, 'precious.zip: already exists; pass --overwrite'),
    ('dataset out a symlink', D, {'--out': 'link.zip', '--overwrite': ''}, 1, 'link.zip: is a symbolic link'),
    ('dataset out a fifo', D, {'--out': 'fifo.zip', '--overwrite': ''}, 1, 'fifo.zip: is a FIFO'),
    ('dataset out a device', D, {'--out': '/dev/null', '--overwrite': ''}, 1, '/dev/null: is a character device'),
    ('dataset out in /proc', D, {'--out': '/proc/a.zip'}, 1, '/proc/a.zip: cannot write in its folder /proc'),
    ('train no out', T, {'--out': None}, 2, '--out PATH is required'),
    ('train lr nan', T, {'--lr': 'nan'}, 2, '--lr must be a positive finite number, got nan'),
    ('train lr inf', T, {'--lr': 'inf'}, 2, '--lr must be a positive finite number, got inf'),
    ('train lr negative', T, {'--lr': '-0.1'}, 2, '--lr must be a positive finite number'),
    ('train lr a word', T, {'--lr': 'fast'}, 2, "argument --lr: invalid float value: 'fast'"),
    ('train res 30', T, {'--res': '30'}, 2, '--res must be a multiple of 4 and at least 64'),
    ('train res 60', T, {'--res': '60'}, 2, '--res must be a multiple of 4 and at least 64'),
    ('train steps 0', T, {'--steps': '0'}, 2, '--steps must be at least 1'),
    ('train batch 0', T, {'--batch': '0'}, 2, '--batch must be at least 1'),
    ('train scenes huge', T, {'--scenes': str(10 ** 9)}, 2, '--scenes must be at most 100000'),
    ('train calibrate -1', T, {'--calibrate': '-1'}, 2, '--calibrate must be at least 0'),
    ('train calibrate_ref 1', T, {'--calibrate_ref': '1'}, 2, '--calibrate_ref must be at least 2'),
    ('train calibrate_spp 12', T, {'--calibrate_spp': '12'}, 2, '--calibrate_spp must lie in [13, 1000]'),
    ('train seed -1', T, {'--seed': '-1'}, 2, '--seed must be at least 0'),
    ('train out a folder', T, {'--out': 'adir'}, 1, 'adir: is a folder'),
    ('train out ends with a slash', T, {'--out': 'adir/'}, 2, "--out adir/: ends with '/'"),
    ('train out inside a file', T, {'--out': 'afile/x.pt'}, 1, 'afile is a file, not a folder'),
    ('train out exists', T, {'--out': 'precious.zip'}, 1, 'precious.zip: already exists'),
    ('train out in /proc', T, {'--out': '/proc/x.pt'}, 1, '/proc/x.pt: cannot write in its folder /proc'),
    ('bench unknown benchmark', B, {'what': 'speed'}, 2, "unknown benchmark 'speed'; available: sampler"),
    ('bench no benchmark', B, {'what': None}, 2, 'the following arguments are required: what'),
    ('bench budgets word', B, {'--budgets': '8,x'}, 2, "--budgets must be integers from 1 to 65536 separated by commas, got '8,x'"),
    ('bench budgets 0', B, {'--budgets': '0,8'}, 2, '--budgets must be integers from 1'),
    ('bench res 10', B, {'--res': '10'}, 2, '--res must be a multiple of 4, got 10'),
    ('bench res 16 no proposal', B, {'--res': '16', '--proposal': None}, 2, '--res 16 needs --proposal FILE'),
    ('bench reference 0', B, {'--reference': '0'}, 2, '--reference must be at least 2'),
    ('bench scenes 0', B, {'--scenes': '0'}, 2, '--scenes must be at least 1'),
    ('bench seed -1', B, {'--seed': '-1'}, 2, '--seed must be at least 0'),
    ('bench methods unknown', B, {'--methods': 'two_pass,magic'}, 2, "--methods: unknown ['magic']"),
    ('bench jitters 9', B, {'--jitters': '9'}, 2, '--jitters must be at most 8'),
    ('bench device bogus', B, {'--device': 'bogus'}, 2, "--device 'bogus' is not a device"),
    ('bench device missing gpu', B, {'--device': 'cuda:99'}, 2, '--device cuda:99: this machine has'),
    ('bench device tpu', B, {'--device': 'meta'}, 2, "--device 'meta': only cpu and cuda are supported"),
    ('bench proposal missing', B, {'--proposal': 'none.pt'}, 1, 'none.pt: no such proposal checkpoint'),
    ('bench proposal garbage', B, {'--proposal': 'afile'}, 1, 'afile: not a readable proposal checkpoint'),
    ('bench out inside a file', B, {'--out': 'afile'}, 1, 'afile is a file, not a folder'),
    ('bench train preset unknown', B, {'what': 'train', '--presets': 'tiny,huge'}, 2, "--presets: unknown ['huge']"),
    ('bench train preset@ not a checkout', B, {'what': 'train', '--presets': 'tiny@adir,tiny'}, 1, 'adir: not a wysiwyg checkout'),
    ('demo samples word', M, {'--samples': '16,abc'}, 2, '--samples must be integers from 2'),
    ('demo samples 1', M, {'--samples': '1'}, 2, '--samples must be integers from 2'),
    ('demo res 2', M, {'--res': '2'}, 2, '--res must be at least 4'),
    ('demo reference 1', M, {'--reference': '1'}, 2, '--reference must be at least 2'),
    ('demo dataset_n 0', M, {'--dataset_n': '0'}, 2, '--dataset_n must be at least 1'),
    ('demo dataset_res huge', M, {'--dataset_res': str(10 ** 9)}, 2, '--dataset_res must be at most 4096'),
    ('demo scene unknown', M, {'--scenes': 'sphere,teapot'}, 2, "--scenes: unknown scene(s) ['teapot']"),
    ('demo out inside a file', M, {'--out': 'afile'}, 1, 'afile is a file, not a folder'),
    ('demo output exists', M, {'--out': 'done'}, 1, 'summary.json: already exists'),
    ('eval no ckpt', E, {'--ckpt': None}, 2, '--ckpt FILE is required'),
    ('eval ckpt a folder without checkpoints', E, {'--ckpt': 'adir'}, 2, '--ckpt adir: a folder without checkpoints'),
    ('eval ckpt missing', E, {'--ckpt': 'none.pt'}, 1, 'none.pt: not a readable checkpoint'),
    ('eval ckpt garbage', E, {'--ckpt': 'precious.zip'}, 1, 'precious.zip: not a readable checkpoint'),
    ('eval metric unknown', E, {'--metrics': 'swd,blur'}, 2, "--metrics: unknown ['blur']; choose from swd,swd_n"),
    ('eval n 0', E, {'--n': '0'}, 2, '--n must be at least 1'),
    ('eval out exists', E, {'--out': 'precious.zip'}, 1, 'precious.zip: already exists'),
    ('eval out ends with a slash', E, {'--out': 'adir/'}, 2, "--out adir/: ends with '/'"),
    ('eval inception missing', E, {'--metrics': 'fid', '--inception': 'none.pth'}, 1, 'none.pth: Inception weights not found; download'),
    ('eval data not a dataset', E, {}, 1, 'afile: not a zip archive'),
    ('invert no image', I, {'--image': None}, 2, '--image FILE is required'),
    ('invert image missing', I, {'--image': 'none.png'}, 1, 'none.png: not a readable image'),
    ('invert image not an image', I, {'--image': 'precious.zip'}, 1, 'precious.zip: not a readable image'),
    ('invert yaw too far', I, {'--yaw': '2'}, 2, '--yaw and --pitch must be radians within 1.5 of the front'),
    ('invert pitch nan', I, {'--pitch': 'nan'}, 2, '--yaw and --pitch must be radians'),
    ('invert steps negative', I, {'--w_steps': '-1'}, 2, '--w_steps must be at least 0'),
]


def command(script, changes):
    "The tiny command line of `script` with `changes` applied (a flag set to None is left out)."
    args = []
    for flag, value in {**TINY[script], **changes}.items():
        if value is None: continue
        args += [value] if flag == 'what' else [flag] + ([value] if value else [])
    return args


def world(folder: Path):
    "What a user already has in the folder the command runs in."
    folder.mkdir(parents=True)
    (folder / 'precious.zip').write_text('a thesis, five years of work')
    (folder / 'afile').write_text('not a folder')
    (folder / 'adir').mkdir(); (folder / 'adir' / 'notes.txt').write_text('keep me')
    (folder / 'link.zip').symlink_to(folder / 'precious.zip')
    os.mkfifo(folder / 'fifo.zip')
    (folder / 'done').mkdir(); (folder / 'done' / 'summary.json').write_text('{"an earlier": "run"}')


def run_cases(cases, root: Path):
    "Run `cases`, each in its own folder, in one Python process: (result, folder before, folder after) of each."
    folders = [root / c[0].replace(' ', '_') for c in cases]
    for f in folders: world(f)
    before = [snapshot(f) for f in folders]
    results = run_many([[c[1], command(c[1], c[2]), f, dict(WYSIWYG_DATA=str(f / 'data'))] for c, f in zip(cases, folders)])
    return [(r, b, snapshot(f)) for r, b, f in zip(results, before, folders)]


@pytest.fixture(scope='module')
def results(tmp_path_factory):
    "Every case, in two Python processes that each run half of the table."
    root = tmp_path_factory.mktemp('bad_inputs')
    with ThreadPoolExecutor(2) as pool: halves = list(pool.map(lambda cs: run_cases(cs, root), [CASES[0::2], CASES[1::2]]))
    return dict(zip([c[0] for c in CASES[0::2] + CASES[1::2]], halves[0] + halves[1]))


def test_the_table_is_big_enough(): assert len(CASES) >= 55 and len({c[0] for c in CASES}) == len(CASES)


def test_command_helper():
    assert command(D, {'--n': '0'})[:4] == ['--out', 'new.zip', '--n', '0']
    assert '--out' not in command(D, {'--out': None}) and command(D, {'--overwrite': ''})[-1] == '--overwrite'
    assert command(B, {'what': 'speed'})[0] == 'speed' and 'sampler' not in command(B, {'what': None})


@pytest.mark.parametrize('name, script, changes, status, words', CASES, ids=[c[0] for c in CASES])
def test_bad_input(results, name, script, changes, status, words):
    r, before, after = results[name]
    lines = r['stderr'].strip().splitlines()
    assert r['returncode'] == status, r['stderr']
    assert lines and lines[-1].startswith(f'{script}: error: ') and words in lines[-1], r['stderr']
    assert 'Traceback' not in r['stderr'] and r['stdout'] == ''
    assert after == before                                # nothing pre-existing changed, nothing written


# ------------------------------------------------------------------ camera labels given to the library

def _frontal():
    from wysiwyg.cameras import look_at_camera
    return look_at_camera(math.pi / 2, math.pi / 2)

def _changed(c, **at):
    c = c.clone()
    for i, v in at.items(): c[int(i[1:])] = v
    return c[None]

LABELS = [  # (id, bad label (1, 25) from the frontal one, words of the message)
    ('scaled', lambda c: _changed(c, p0=2.0), 'not orthonormal'),
    ('bottom row', lambda c: _changed(c, p15=3.0), 'bottom row'),
    ('nan', lambda c: _changed(c, p5=float('nan')), 'not finite as a float32'),
    ('pixel intrinsics', lambda c: _changed(c, p18=256.0, p21=256.0), 'pixel units'),
    ('OpenGL', lambda c: c[None] * torch.tensor([1., -1, -1, 1] * 3 + [1.] * 13), 'OpenGL axes'),
]
APIS = ['generate_rays', 'render_image', 'render_probe', 'trace_render', 'render_wysiwyg']


def call(api, c):
    from wysiwyg import cameras, render, probe, trace, shapes, sampler, proposal
    field = shapes.sphere_field(radius=0.3)
    return {'generate_rays': lambda: cameras.generate_rays(c, 4),
            'render_image': lambda: render.render_image(field, c, 4, 'uniform', 8),
            'render_probe': lambda: probe.render_probe(field, c, 4),
            'trace_render': lambda: trace.trace_render(field, c, 4),
            'render_wysiwyg': lambda: sampler.render_wysiwyg(field, c, 8, proposal.default_proposal())}[api]()


@pytest.mark.parametrize('api', APIS)
@pytest.mark.parametrize('case, bad, words', LABELS, ids=[l[0] for l in LABELS])
def test_bad_camera_label(api, case, bad, words):
    c = _frontal()
    call(api, c[None])                                           # the good label works
    with pytest.raises(ValueError, match=f'camera label 0 .*{words}'): call(api, bad(c))


def test_bench_times_the_named_checkout(tmp_path, monkeypatch):
    "A case for NAME@DIR imports DIR's package, even run from a folder holding another `wysiwyg` (where `python -c` looks first)."
    from wysiwyg.train import _run_case, _checkout
    (tmp_path / 'wysiwyg').mkdir()
    for f in ('__init__.py', 'trainer.py'): (tmp_path / 'wysiwyg' / f).write_text('')
    monkeypatch.chdir(Path(__file__).parent.parent)
    r = _run_case("import json, wysiwyg; print(json.dumps(dict(at=wysiwyg.__file__)))", _checkout(str(tmp_path)))
    assert Path(r['at']).resolve().parent.parent == tmp_path.resolve()
