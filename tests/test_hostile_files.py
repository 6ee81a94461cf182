"""No code runs from a file we read. A checkpoint is a pickle, and a pickle can call any function it names: each case
below hands an entry point a checkpoint whose pickle would create a file (a real checkpoint with one extra entry), and
asserts that the command exits 1 with one line naming the checkpoint, and that the file was never created."""
import io, subprocess, sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from wysiwyg.files import data_dir, load_tensors
from wysiwyg.proposal import ProposalCNN, load_proposal, save_proposal
from wysiwyg.files import read_checkpoint, slim_checkpoint
from wysiwyg.train import generate, load_generator
from wysiwyg.metrics import generated_scenes
from wysiwyg.export import export_samples
from wysiwyg.invert import reconstruct

BIN = Path(sys.executable).parent


class Payload:
    "Unpickling this creates the file `marker`: what a hostile checkpoint could do (it could as well run a shell)."
    def __init__(self, marker): self.marker = str(marker)
    def __reduce__(self): return (io.open, (self.marker, 'w'))


def hostile(path: Path, marker: Path, kind: str = 'gan') -> Path:
    "A checkpoint that loads and works if unpickled blindly, with a payload beside its real contents."
    if kind == 'gan': ck = load_tensors(data_dir() / 'gan_tiny.pt')
    else: ck = load_tensors(save_proposal(ProposalCNN(), path.with_suffix('.clean.pt'), tau=0.99))
    ck['note'] = Payload(marker)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ck, path)
    return path


@pytest.fixture
def marker(tmp_path):
    m = tmp_path / 'PWNED'
    yield m
    assert not m.exists(), "the checkpoint's pickle ran: it created its file"


def the_payload_would_run(tmp_path):
    "The test is able to fail: unpickled without the restricted reader, the payload does create its file."
    m = tmp_path / 'ran'
    torch.load(hostile(tmp_path / 'h.pt', m), weights_only=False)
    return m.exists()


def test_the_payload_is_real(tmp_path): assert the_payload_would_run(tmp_path)


def one_line_naming(r, path):
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1, (r.returncode, r.stderr[-2000:])
    assert len(lines) == 1 and str(path) in lines[0] and 'refused' in lines[0], r.stderr[-2000:]


def run(*args):
    return subprocess.run([str(BIN / args[0]), *map(str, args[1:])], capture_output=True, text=True, timeout=300)


def a_photo(tmp_path):
    p = tmp_path / 'face.png'
    Image.new('RGB', (64, 64), (90, 60, 40)).save(p)
    return p


CLI = {
    'generate --ckpt': lambda t, h: ('wysiwyg-generate', '--ckpt', h, '--out', t / 'o', '--seeds', '0', '--quiet'),
    'generate --ckpt FOLDER': lambda t, h: ('wysiwyg-generate', '--ckpt', t / 'run', '--out', t / 'o', '--quiet'),
    'train --init': lambda t, h: ('wysiwyg-train', '--out', t / 'new', '--init', h, '--quiet'),
    'train --resume': lambda t, h: ('wysiwyg-train', '--out', t / 'run', '--resume', '--quiet'),
    'eval --ckpt': lambda t, h: ('wysiwyg-eval', '--ckpt', h, '--n', 2, '--quiet'),
    'invert --ckpt': lambda t, h: ('wysiwyg-invert', '--ckpt', h, '--image', a_photo(t), '--out', t / 'o', '--quiet'),
    'bench --ckpt': lambda t, h: ('wysiwyg-bench', 'sampler', '--ckpt', h, '--res', 16, '--scenes', 1, '--out', t / 'b'),
}


@pytest.mark.parametrize('case', list(CLI))
def test_console_scripts_refuse(tmp_path, marker, case):
    h = hostile(tmp_path / 'run' / 'checkpoints' / 'gan-0000000064.pt', marker)   # also the newest of a run folder
    one_line_naming(run(*CLI[case](tmp_path, h)), h)


def test_bench_proposal_refused(tmp_path, marker):
    h = hostile(tmp_path / 'p.pt', marker, 'proposal')
    one_line_naming(run('wysiwyg-bench', 'sampler', '--proposal', h, '--res', 16, '--scenes', 1, '--out', tmp_path / 'b'), h)


LIBRARY = {
    'read_checkpoint': lambda t, h: read_checkpoint(h),
    'load_generator': lambda t, h: load_generator(h),
    'slim_checkpoint': lambda t, h: slim_checkpoint(h, t / 'slim.pt'),
    'generate': lambda t, h: generate(h, [0], t / 'o', progress=False),
    'generated_scenes': lambda t, h: generated_scenes(h, 1),
    'export_samples': lambda t, h: export_samples(h, [0], t / 'o', ('ply',), (), progress=False),
    'reconstruct': lambda t, h: reconstruct(h, a_photo(t), t / 'o'),
}


@pytest.mark.parametrize('case', list(LIBRARY))
def test_library_loaders_refuse(tmp_path, marker, case):
    h = hostile(tmp_path / 'h.pt', marker)
    with pytest.raises(ValueError, match='refused') as e: LIBRARY[case](tmp_path, h)
    assert str(e.value).startswith(str(h)) and '\n' not in str(e.value)


def test_explorers_refuse(tmp_path, marker):
    pytest.importorskip('ipywidgets')
    from wysiwyg.widgets import camera_explorer, interpolation_explorer
    h = hostile(tmp_path / 'h.pt', marker)
    for explorer in (camera_explorer, interpolation_explorer):
        with pytest.raises(ValueError, match=f'{h}: refused'): explorer(h)


def test_load_proposal_refuses(tmp_path, marker):
    h = hostile(tmp_path / 'p.pt', marker, 'proposal')
    with pytest.raises(ValueError, match=f'{h}: refused'): load_proposal(h)
