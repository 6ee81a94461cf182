"""GAN training end to end: every phase of a compressed schedule, kill -9 and --resume with the same losses as an
uninterrupted run, and a non-finite loss that stops training without touching the last checkpoint."""
import contextlib, hashlib, json, os, signal, subprocess, sys, time
from pathlib import Path

import pytest
import torch

from wysiwyg.data import EG3DDataset, make_synthetic_dataset
from wysiwyg.trainer import TrainConfig
from wysiwyg.files import read_checkpoint, latest_checkpoint
from wysiwyg.train import train, read_log

ENV = dict(os.environ, OMP_NUM_THREADS='1')
TRAIN = [str(Path(sys.executable).parent / 'wysiwyg-train')]  # the console script of this environment


micro_config = TrainConfig.micro  # a 32x32 run small enough to pass through the whole schedule in seconds


@pytest.fixture(scope='module')
def micro_data(tmp_path_factory):
    return EG3DDataset(make_synthetic_dataset(tmp_path_factory.mktemp('d') / 'micro.zip', n=12, resolution=32, progress=False))


def test_tiny_preset_runs_every_phase(tmp_path):
    "The tiny preset itself, its schedule compressed to 32 images: two-pass at 16, the ramp to 32, L_sampler, the learned sampler, 64."
    torch.set_num_threads(1)
    cfg = TrainConfig.tiny(kimg=0.032, batch=4, log_kimg=0.004)
    data = EG3DDataset(make_synthetic_dataset(tmp_path / 'd.zip', n=8, resolution=64, progress=False))
    last = train(cfg, data, tmp_path / 'run', progress=False)
    log = read_log(tmp_path / 'run')
    assert {l['render_res'] for l in log} >= {32, 64} and {l['learned'] for l in log} == {0, 1}
    assert any('sampler' in l for l in log) and any('r1' in l for l in log)
    assert read_checkpoint(last)['nimg'] == 32 and list((tmp_path / 'run' / 'samples').glob('*.png'))


def _cli(out, *extra):
    return TRAIN + ['--out', str(out), '--kimg', '0.016', '--batch', '4', '--ckpt_kimg', '0.008', '--log_kimg', '0.004',
                    '--threads', '1', '--quiet', *extra]


def _losses(out):
    return [{k: v for k, v in l.items() if k not in ('images_per_s', 'seconds', 'peak_gib')} for l in read_log(out)]


@pytest.mark.slow
def test_kill_9_then_resume_repeats_the_losses(tmp_path):
    """The tiny preset from the command line: SIGKILL after the first checkpoint, --resume, same losses bitwise.
    The uninterrupted run also scores its last checkpoint (--metrics) into metrics.jsonl."""
    subprocess.run(_cli(tmp_path / 'a', '--metrics', 'swd', '--metrics_kimg', '0.016', '--metrics_n', '2'), env=ENV, check=True,
                   capture_output=True)
    scores = read_log(tmp_path / 'a', 'metrics.jsonl')
    assert [l['nimg'] for l in scores] == [16] and scores[0]['swd'] > scores[0]['floor_swd'] > 0
    p = subprocess.Popen(_cli(tmp_path / 'b'), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ck = tmp_path / 'b' / 'checkpoints' / 'gan-0000000008.pt'
    while not ck.exists() and p.poll() is None: time.sleep(0.05)
    p.send_signal(signal.SIGKILL); p.wait()
    assert ck.exists() and p.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    r = subprocess.run(_cli(tmp_path / 'b', '--resume'), env=ENV, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert _losses(tmp_path / 'b') == _losses(tmp_path / 'a') and len(_losses(tmp_path / 'a')) == 4


def test_a_nan_stops_training_and_keeps_the_last_checkpoint(tmp_path, micro_data):
    def poison(t):
        if t.nimg == 48:                                                  # after the checkpoint at 40
            with torch.no_grad(): next(t.G.mlp_sdf.parameters()).fill_(float('nan'))
    with pytest.raises(FloatingPointError, match=r'training stopped at step 12 \(48 images\): the \w+ loss is nan; the last good checkpoint is .*gan-0000000040.pt'):
        train(micro_config(), micro_data, tmp_path / 'run', progress=False, callback=poison)
    last = latest_checkpoint(tmp_path / 'run')
    ck = read_checkpoint(last)
    assert last.name == 'gan-0000000040.pt' and all(torch.isfinite(v).all() for v in ck['nets']['G'].values() if v.is_floating_point())


def test_resume_needs_a_checkpoint_and_a_run_is_never_trained_over(tmp_path, micro_data):
    with pytest.raises(OSError, match='no checkpoint'):
        train(micro_config(), micro_data, tmp_path / 'run', resume=True, progress=False)
    train(micro_config(kimg=0.008, ckpt_kimg=0.004), micro_data, tmp_path / 'run', progress=False)
    before = hashlib.sha1(latest_checkpoint(tmp_path / 'run').read_bytes()).hexdigest()
    with pytest.raises(OSError, match='already holds a training run'):
        train(micro_config(), micro_data, tmp_path / 'run', progress=False)
    assert hashlib.sha1(latest_checkpoint(tmp_path / 'run').read_bytes()).hexdigest() == before


def test_minutes_stops_with_a_checkpoint_and_resuming_adds_to_the_time(tmp_path, micro_data):
    for resume in (False, True): train(micro_config(), micro_data, tmp_path / 'run', resume=resume, progress=False, minutes=1e-6)
    log = read_log(tmp_path / 'run')
    assert [l['nimg'] for l in log] == [4, 8] and read_checkpoint(latest_checkpoint(tmp_path / 'run'))['nimg'] == 8
    assert log[1]['seconds'] > log[0]['seconds'] > 0


def test_init_continues_a_finished_run_in_a_new_folder_in_its_last_phase(tmp_path, micro_data):
    first = train(micro_config(kimg=0.008), micro_data, tmp_path / 'a', progress=False)
    last = train(None, micro_data, tmp_path / 'b', init=first, kimg=0.008, progress=False)
    log = read_log(tmp_path / 'b')
    assert read_checkpoint(last)['nimg'] == 16 and [l['nimg'] for l in log] == [12, 16] and all(l['learned'] for l in log)


def test_a_dataset_of_another_size_is_refused_before_training(tmp_path, micro_data):
    with pytest.raises(ValueError, match='images are 32x32, the run'):
        train(TrainConfig.tiny(), micro_data, tmp_path / 'run', progress=False)
    assert not (tmp_path / 'run' / 'checkpoints').exists()


TORCHRUN = [str(Path(sys.executable).parent / 'torchrun'), '--standalone', '--nproc-per-node', '2', '--no-python']


@pytest.mark.slow
def test_torchrun_restarts_a_killed_worker_and_resumes(tmp_path):
    """Two CPU processes (gloo) train one run; SIGKILL one worker after the first checkpoint: torchrun restarts both,
    they continue from that checkpoint, one log line per step, and one process reports (the ranks agree, or it fails)."""
    err, out = open(tmp_path / 'stderr.txt', 'w'), open(tmp_path / 'stdout.txt', 'w')   # files: a full pipe would block
    p = subprocess.Popen(TORCHRUN[:1] + ['--max-restarts', '1'] + TORCHRUN[1:] + _cli(tmp_path / 'run'), env=ENV,
                         stdout=out, stderr=err)
    try:
        ck = tmp_path / 'run' / 'checkpoints' / 'gan-0000000008.pt'
        while not ck.exists() and p.poll() is None: time.sleep(0.05)
        workers = subprocess.run(['pgrep', '-P', str(p.pid)], capture_output=True, text=True).stdout.split()
        assert ck.exists() and workers, "the run ended before a worker could be killed"
        os.kill(int(workers[-1]), signal.SIGKILL)
        assert p.wait(timeout=600) == 0, (tmp_path / 'stderr.txt').read_text()[-3000:]
    finally:                                                              # never leave a hung group behind
        for w in subprocess.run(['pgrep', '-P', str(p.pid)], capture_output=True, text=True).stdout.split():
            with contextlib.suppress(ProcessLookupError): os.kill(int(w), signal.SIGKILL)
        p.kill()
    assert [l['nimg'] for l in read_log(tmp_path / 'run')] == [4, 8, 12, 16]
    assert read_checkpoint(latest_checkpoint(tmp_path / 'run'))['nimg'] == 16
    assert (tmp_path / 'stdout.txt').read_text().count('images seen') == 1


def test_two_processes_of_batch_b_apply_the_update_of_one_process_of_2b(tmp_path, micro_data):
    """One step with R1, every random draw tied to a sample's place in the global batch: the gradients G and D apply
    under torchrun with 2 x 4 images equal those of one process with 8, to 1e-4 relative (float32 sums in another
    order: measured ~3e-6; without the averaging hook the difference is ~2.5)."""
    script, data = str(Path(__file__).parent / 'ranks_update.py'), str(micro_data.path)
    subprocess.run([sys.executable, script, tmp_path / 'one.pt', data, '8'], env=ENV, check=True, capture_output=True)
    subprocess.run(TORCHRUN[:-1] + [script, tmp_path / 'two.pt', data, '8'], env=ENV, check=True, capture_output=True)
    one, two = torch.load(tmp_path / 'one.pt'), torch.load(tmp_path / 'two.pt')
    assert one.keys() == two.keys() and any(k.startswith('D.') for k in one)
    worst = max(((one[k] - two[k]).norm() / one[k].norm().clamp_min(1e-12)).item() for k in one)
    assert worst < 1e-4, f"a gradient differs by {worst:.2e} (relative)"


def test_bench_sampler_runs_on_a_checkpoints_scenes_beside_the_analytic_ones(tmp_path, micro_data):
    last = train(micro_config(kimg=0.004), micro_data, tmp_path / 'run', progress=False)
    bench = str(Path(sys.executable).parent / 'wysiwyg-bench')
    r = subprocess.run([bench, 'sampler', '--ckpt', str(last), '--res', '32', '--scenes', '1', '--budgets', '8,16',
                        '--reference', '64', '--jitters', '1', '--methods', 'two_pass,wysiwyg', '--out', str(tmp_path / 'b')],
                       env=ENV, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    kinds = json.loads((tmp_path / 'b' / 'sampler.json').read_text())['per_kind']
    assert sorted(kinds) == ['generated', 'head'] and kinds['generated']['methods']['wysiwyg'][0]['psnr'] > 0


SHIPPED_GAN = Path(__file__).resolve().parent.parent / 'data' / 'gan_tiny.pt'


def test_the_shipped_checkpoint_is_small_and_draws_heads(tmp_path):
    "The shipped tiny GAN: a few MB of float16 weights that the main job starts from, drawing an object on a clear background."
    torch.set_num_threads(1)
    ck = read_checkpoint(SHIPPED_GAN)
    assert SHIPPED_GAN.stat().st_size < 10e6 and ck['opts'] is None
    assert {t.dtype for t in ck['nets']['G'].values() if t.is_floating_point()} == {torch.float16}
    from wysiwyg.train import generate
    import numpy as np
    opacity = np.load(generate(SHIPPED_GAN, [0, 1, 2], tmp_path, views=1, progress=False))['opacity']  # (3, 64, 64)
    assert (opacity[:, 28:36, 28:36] > 0.9).all() and (opacity[:, :4, :4] < 0.1).all()   # opaque centre, empty corners
