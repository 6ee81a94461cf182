"""Checkpoints are input too: a bad one is refused by name before it allocates anything, and a training run that
diverges stops with a message instead of writing a network of NaNs. Table-driven, one row a case."""
import subprocess, sys
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from wysiwyg.proposal import ProposalCNN, ProposalConfig, save_proposal, load_proposal

BIN = Path(sys.executable).parent


def tampered(path: Path, change) -> Path:
    "A valid checkpoint at `path`, then `change(ck)` applied to its dictionary."
    save_proposal(ProposalCNN(), path, tau=0.99)
    ck = torch.load(path, weights_only=True)
    change(ck)
    torch.save(ck, path)
    return path


def nan_first_weight(ck):
    k = next(iter(ck['state_dict'])); ck['state_dict'][k] = ck['state_dict'][k].clone().fill_(float('nan'))


CASES = [
    ('huge width', lambda ck: ck['config'].update(width=2048), 'config width = 2048'),
    ('width a string', lambda ck: ck['config'].update(width='64'), "config width = '64'"),
    ('factor not a power of 2', lambda ck: ck['config'].update(factor=3), 'not a power of 2'),
    ('even kernel too large', lambda ck: ck['config'].update(kernel=9), 'config kernel = 9'),
    ('unknown prior', lambda ck: ck['config'].update(prior='x'), "config prior = 'x'"),
    ('other bin count', lambda ck: ck['config'].update(n_bins=64), 'config n_bins = 64'),
    ('config not a dict', lambda ck: ck.update(config=[1, 2]), 'config is list'),
    ('NaN weights', nan_first_weight, 'non-finite weights'),
    ('tau 5', lambda ck: ck['meta'].update(tau=5), 'meta tau = 5'),
    ('tau a string', lambda ck: ck['meta'].update(tau='abc'), "meta tau = 'abc'"),
    ('tau 0', lambda ck: ck['meta'].update(tau=0.0), 'meta tau = 0.0'),
    ('hard fraction 2', lambda ck: ck['meta'].update(hard_fraction=2), 'meta hard_fraction = 2'),
    ('full layers too many', lambda ck: ck['config'].update(n_full=99), 'config n_full = 99'),
    ('wrong format tag', lambda ck: ck.update(format='other'), 'not a proposal checkpoint'),
]


@pytest.mark.parametrize('case, change, problem', CASES, ids=[c[0] for c in CASES])
def test_bad_checkpoint_is_refused(tmp_path, case, change, problem):
    p = tampered(tmp_path / 'p.pt', change)
    with pytest.raises(ValueError) as e: load_proposal(p)
    assert str(e.value).startswith(str(p)) and problem in str(e.value), str(e.value)


def test_bad_checkpoint_on_the_command_line(tmp_path):
    p = tampered(tmp_path / 'p.pt', lambda ck: ck['config'].update(width=2048))
    r = subprocess.run([str(BIN / 'wysiwyg-bench'), 'sampler', '--proposal', str(p), '--out', str(tmp_path / 'b'),
                        '--res', '16', '--scenes', '1', '--budgets', '8'], capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and 'config width = 2048' in r.stderr and 'Traceback' not in r.stderr, r.stderr
    assert not (tmp_path / 'b').exists()


def test_diverging_training_writes_nothing(tmp_path):
    "A learning rate that is a number but far too large: the run stops at the step it diverges (bad --lr values: test_bad_inputs.py)."
    lr, problem = '1e30', 'training diverged at step'
    out = tmp_path / 'p.pt'
    r = subprocess.run([str(BIN / 'wysiwyg-train-proposal'), '--out', str(out), '--steps', '3', '--res', '64',
                        '--scenes', '1', '--batch', '1', '--eval', '0', '--calibrate', '0', '--quiet', '--lr', lr],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 1 and problem in r.stderr and 'Traceback' not in r.stderr, r.stderr
    assert not out.exists() and not list(tmp_path.glob('.*.tmp'))


def test_a_good_checkpoint_still_loads(tmp_path):
    p = save_proposal(ProposalCNN(ProposalConfig(width=8)), tmp_path / 'p.pt', tau=0.98)
    m = load_proposal(p)
    assert m.cfg.width == 8 and m.meta['tau'] == 0.98 and asdict(m.cfg) == asdict(ProposalConfig(width=8))
