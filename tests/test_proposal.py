"""Integration tests of wysiwyg.proposal: the `wysiwyg-train-proposal` console script end to end (tiny settings),
atomic checkpoint writes, clear errors for missing / corrupt checkpoints, and the shipped default weights."""
import os, shutil, signal, subprocess, sys, time
from pathlib import Path

import pytest
import torch

from wysiwyg.proposal import ProposalCNN, ProposalConfig, default_proposal, load_proposal, save_proposal, CHECKPOINT_FORMAT, TRAIN_COMMAND
from wysiwyg.probe import render_probe
from wysiwyg.cameras import look_at_camera
from wysiwyg.shapes import sphere_field
from wysiwyg.scenes import validation_scenes
from wysiwyg.sampler import proposal_tau
from wysiwyg.bench import evaluate_proposal

NAME = 'wysiwyg-train-proposal'
TINY = ['--steps', 3, '--res', 64, '--scenes', 2, '--batch', 2, '--eval', 0, '--calibrate', 0, '--quiet']


def cli_path():
    "The console script of this environment (next to the interpreter running the tests), else the one on PATH."
    exe = Path(sys.executable).parent / NAME
    found = str(exe) if exe.exists() else shutil.which(NAME)
    if not found: pytest.fail(f"{NAME} is not installed: run `pip install -e . --no-deps`")
    return found


def run_cli(*args, timeout=300, **kw):
    return subprocess.run([cli_path(), *map(str, args)], capture_output=True, text=True, timeout=timeout, **kw)


def probe_of_sphere(res=32):
    return render_probe(sphere_field(0.3), look_at_camera(1.6, 1.5), res)


# ------------------------------------------------------------------ the CLI end to end

def test_cli_end_to_end(tmp_path):
    out = tmp_path / 'sub' / 'p.pt'
    r = run_cli('--out', out, '--seed', 3, *TINY)
    assert r.returncode == 0, r.stderr
    assert 'wrote' in r.stdout and str(out) in r.stdout
    assert sorted(os.listdir(out.parent)) == ['p.pt']                  # no temporary file left beside it
    m = load_proposal(out)
    assert isinstance(m, ProposalCNN) and m.cfg == ProposalConfig() and not m.training
    assert len(m.meta['history']) == 3 and m.meta['seed'] == 3 and m.meta['resolution'] == 64
    assert f'--out {out}' in m.meta['command']
    with torch.no_grad(): logits = m(probe_of_sphere(32))
    assert logits.shape == (1, 191, 32, 32) and torch.isfinite(logits).all()
    assert out.stat().st_size < 4 * 2 ** 20                           # the CPU network is small


@pytest.mark.slow
def test_cli_calibrates_the_operating_point(tmp_path):
    "With --calibrate the checkpoint carries the tau and hard fraction of the best validation PSNR, and render_wysiwyg uses them."
    from wysiwyg.sampler import proposal_tau, proposal_hard_fraction, CALIBRATION_TAUS, CALIBRATION_HARD_FRACTIONS, CALIBRATION_SPP
    out = tmp_path / 'p.pt'
    r = run_cli('--out', out, '--steps', 3, '--res', 64, '--scenes', 2, '--batch', 2, '--eval', 0,
                '--calibrate', 1, '--calibrate_ref', 64, '--calibrate_seeds', 1, '--quiet')
    assert r.returncode == 0, r.stderr
    m = load_proposal(out)
    cal = m.meta['calibration']
    assert (cal['scenes'], cal['seeds'], cal['total_spp']) == (1, 1, CALIBRATION_SPP)
    assert len(cal['table']) == len(CALIBRATION_TAUS) * len(CALIBRATION_HARD_FRACTIONS)
    best = max(cal['table'], key=lambda row: row['psnr'])
    assert (m.meta['tau'], m.meta['hard_fraction']) == (best['tau'], best['hard_fraction']) == (cal['tau'], cal['hard_fraction'])
    assert (proposal_tau(m), proposal_hard_fraction(m)) == (m.meta['tau'], m.meta['hard_fraction'])
    assert f"tau {m.meta['tau']}, hard fraction {m.meta['hard_fraction']}" in r.stdout
    assert 'tau' not in load_proposal(save_proposal(ProposalCNN(), tmp_path / 'q.pt')).meta   # no calibration: none


@pytest.mark.slow
def test_cli_same_seed_same_weights(tmp_path):
    a, b = tmp_path / 'a.pt', tmp_path / 'b.pt'
    for p in (a, b): assert run_cli('--out', p, '--seed', 5, *TINY).returncode == 0
    sa, sb = load_proposal(a).state_dict(), load_proposal(b).state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_cli_replaces_atomically_and_a_kill_leaves_the_old_file(tmp_path):
    out = tmp_path / 'p.pt'
    out.write_bytes(b'old contents')
    # killed while training: the old file is untouched and no temporary file is left
    p = subprocess.Popen([cli_path(), '--out', str(out), '--steps', '100000', '--res', '64', '--scenes', '2',
                          '--batch', '2', '--eval', '0', '--calibrate', '0', '--quiet', '--overwrite'],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(8)
    p.send_signal(signal.SIGKILL); p.wait(timeout=30)
    assert out.read_bytes() == b'old contents'
    assert sorted(os.listdir(tmp_path)) == ['p.pt']
    # a finished run replaces it
    assert run_cli('--out', out, *TINY).returncode != 0                 # not without --overwrite
    assert run_cli('--out', out, *TINY, '--overwrite').returncode == 0
    assert load_proposal(out).meta['steps'] == 3


# ------------------------------------------------------------------ loading: clear errors naming the file

def test_load_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.pt: no such proposal checkpoint'):
        load_proposal(tmp_path / 'nope.pt')


@pytest.mark.parametrize('contents', [b'', b'garbage' * 100, b'PK\x03\x04 truncated zip'])
def test_load_corrupt(tmp_path, contents):
    p = tmp_path / 'bad.pt'
    p.write_bytes(contents)
    with pytest.raises(ValueError, match=r'bad\.pt: not a readable proposal checkpoint'):
        load_proposal(p)


def test_load_truncated_real_checkpoint(tmp_path):
    good = save_proposal(ProposalCNN(), tmp_path / 'good.pt')
    data = good.read_bytes()
    cut = tmp_path / 'cut.pt'
    cut.write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match=r'cut\.pt: not a readable proposal checkpoint'):
        load_proposal(cut)


def test_load_wrong_contents(tmp_path):
    p = tmp_path / 'other.pt'
    torch.save({'state_dict': {}}, p)
    with pytest.raises(ValueError, match=r'other\.pt: not a proposal checkpoint'):
        load_proposal(p)
    q = tmp_path / 'mismatch.pt'
    ck = dict(format=CHECKPOINT_FORMAT, config=dict(width=8), state_dict=ProposalCNN().state_dict(), meta={})
    torch.save(ck, q)
    with pytest.raises(ValueError, match=r'mismatch\.pt: proposal checkpoint does not match its config'):
        load_proposal(q)


def test_config_travels_with_the_weights(tmp_path):
    cfg = ProposalConfig(width=8, n_low=2, post_width=8, n_post=2, head_kernel=3)
    m = ProposalCNN(cfg)
    m2 = load_proposal(save_proposal(m, tmp_path / 'm.pt', note='x'))
    assert m2.cfg == cfg and m2.meta['note'] == 'x'
    pr = probe_of_sphere(16)
    with torch.no_grad(): assert torch.allclose(m(pr), m2(pr))


# ------------------------------------------------------------------ the default (shipped) weights

def test_default_missing_names_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv('WYSIWYG_DATA', str(tmp_path))
    with pytest.raises(FileNotFoundError) as e:
        default_proposal(128)
    msg = str(e.value)
    assert str(tmp_path / 'proposal_128.pt') in msg and f'{NAME} --out' in msg and '--res 128' in msg


def test_default_shipped_weights():
    m = default_proposal()
    assert m.path.name == 'proposal_128.pt' and m.path.stat().st_size < 2 * 2 ** 20
    assert m.meta['resolution'] == 128 and m.meta['validation']['all']['captured_fg'] > 0.95
    assert m.meta['command'].startswith(TRAIN_COMMAND.format(path='data/proposal_128.pt', res=128))   # made as documented
    assert 0.9 <= m.meta['tau'] <= 1 and m.meta['calibration']['scenes'] >= 4
    with torch.no_grad(): pdf = m(probe_of_sphere(128)).softmax(1)
    assert pdf.shape == (1, 191, 128, 128) and torch.allclose(pdf.sum(1), torch.ones(1, 128, 128), atol=1e-4)


@pytest.mark.parametrize('resolution', [64, 128, pytest.param(256, marks=pytest.mark.slow)])
def test_shipped_weights_serve_every_resolution(resolution):
    "A GAN ramps its rendering resolution: at each, the shipped network's kept bins hold the true mass of the foreground."
    net = default_proposal()
    rows = evaluate_proposal(net, validation_scenes(2), resolution, tau=proposal_tau(net))
    assert [r['kind'] for r in rows] == ['head', 'composition']
    assert all(r['captured_fg'] > 0.97 for r in rows), [(r['kind'], round(r['captured_fg'], 4)) for r in rows]
