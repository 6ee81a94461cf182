"""Scoring a generator from the command line: wysiwyg-eval runs every metric (FID, KID and FID-N through torch-fidelity
with a self-made random-weights Inception: a plumbing test) and gives the library's numbers. That the numbers logged
during training are repeated offline is tested in the metrics notebook; wysiwyg-train --metrics in test_train.py."""
import json, subprocess, sys
from pathlib import Path

import pytest
import torch

from wysiwyg.data import EG3DDataset, make_synthetic_dataset
from wysiwyg.metrics import METRICS, evaluate, plumbing_inception
from wysiwyg.train import train
from test_train import micro_config, ENV

BIN = Path(sys.executable).parent


@pytest.fixture(scope='module')
def micro(tmp_path_factory):
    "A micro run's checkpoint after 8 images, its 32x32 dataset, and the plumbing Inception weights."
    root = tmp_path_factory.mktemp('eval')
    data = EG3DDataset(make_synthetic_dataset(root / 'micro.zip', n=12, resolution=32, progress=False))
    torch.set_num_threads(1)
    return train(micro_config(kimg=0.008), data, root / 'run', progress=False), data, plumbing_inception(root / 'random_inception.pth')


def test_eval_cli_gives_the_librarys_numbers_for_every_metric(tmp_path, micro):
    ckpt, data, weights = micro
    r = subprocess.run([str(BIN / 'wysiwyg-eval'), '--ckpt', str(ckpt), '--data', str(data.path), '--n', '2', '--inception',
                        str(weights), '--metrics', ','.join(METRICS), '--out', str(tmp_path / 'r.json'), '--quiet'],
                       env=ENV, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    got, cheap = json.loads((tmp_path / 'r.json').read_text()), ('swd', 'swd_n', 'depth', 'nfs')
    want = evaluate(ckpt, data, cheap, n=2)
    assert set(got['floor']) == set(METRICS) and all(m in r.stdout.split() for m in METRICS)
    for m in cheap: assert got[m] == pytest.approx(want[m], rel=1e-5) and got['floor'][m] == pytest.approx(want['floor'][m], rel=1e-5)
    assert got['levels']['swd_n']['generator'] == pytest.approx(want['levels']['swd_n']['generator']) and 'swd_n    by level' in r.stdout
    assert all(got[m] >= 0 and got[m] < float('inf') for m in ('fid', 'fid_n'))    # random Inception weights: plumbing only
