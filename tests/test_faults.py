"""Fault injection on every console script: a full disk, a read-only folder and SIGKILL at random moments, each a few
times. Every pre-existing file stays byte-identical, every failure is one line naming the file, and no temporary file
outlives the next run. Needs root (to mount small tmpfs folders); skipped elsewhere."""
import os, random, subprocess, time
from pathlib import Path

import pytest

from test_safe_writes import BIN, SHIPPED, snapshot

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='mounting a small tmpfs needs root')

# script -> (a tiny run, a run of minutes, given the output path; what it writes, relative to the output path)
SCRIPTS = {
    'wysiwyg-dataset': (lambda o: ['--out', o, '--n', '2', '--res', '8', '--quiet'],
                        lambda o: ['--out', o, '--n', '2000', '--res', '32', '--quiet'], ['']),
    'wysiwyg-train-proposal': (lambda o: ['--out', o, '--steps', '1', '--res', '64', '--scenes', '1', '--batch', '1',
                                          '--eval', '0', '--calibrate', '0', '--quiet'],
                               lambda o: ['--out', o, '--steps', '1000', '--res', '64', '--scenes', '4', '--eval', '0',
                                          '--calibrate', '0', '--quiet'], ['']),
    'wysiwyg-bench': (lambda o: ['sampler', '--out', o, '--res', '8', '--scenes', '1', '--budgets', '8', '--reference',
                                 '16', '--device', 'cpu', '--proposal', SHIPPED],
                      lambda o: ['sampler', '--out', o, '--res', '128', '--scenes', '4', '--device', 'cpu'],
                      ['sampler.json', 'sampler.png']),
    'wysiwyg-demo': (lambda o: ['--out', o, '--res', '8', '--samples', '4', '--reference', '16', '--dataset_res', '8',
                                '--dataset_n', '2', '--scenes', 'sphere'],
                     lambda o: ['--out', o, '--dataset_res', '32', '--dataset_n', '2000'],
                     ['dataset.png', 'renders.png', 'errors.png', 'summary.json']),
}


# the fast tier injects each fault into one script; the full tier into all four (they share one safe-write layer)
ONE_FAST = [pytest.param(s, marks=[] if s == 'wysiwyg-dataset' else [pytest.mark.slow]) for s in SCRIPTS]


def run(script, args, data: Path, wait=True):
    "Run a console script with its data folder at `data`; `wait=False` returns the running process."
    cmd = [str(BIN / script), *map(str, args), '--overwrite']
    env = dict(os.environ, WYSIWYG_DATA=str(data), OMP_NUM_THREADS='1')
    if not wait: return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)


def plant_old_outputs(script, out: Path):
    "Earlier results at every output of `script` (each must survive every failed run byte for byte)."
    for name in SCRIPTS[script][2]:
        p = out / name if name else out
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(f'an earlier {script} result: {name or out.name}'.encode())


def temps(folder: Path) -> list: return sorted(str(p) for p in folder.rglob('.*.tmp'))


def last_line(r) -> str: return r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ''


@pytest.fixture
def small_disk(tmp_path):
    "An 8 MiB tmpfs."
    mnt = tmp_path / 'small'; mnt.mkdir()
    if subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', str(mnt)], capture_output=True).returncode:
        pytest.skip('cannot mount tmpfs here')
    try: yield mnt
    finally: subprocess.run(['umount', '-l', str(mnt)])


def fill(folder: Path):
    "Write a ballast file until the disk is full."
    with open(folder / 'ballast', 'wb', buffering=0) as f:
        try:
            while True: f.write(b'\0' * 4096)
        except OSError: pass


@pytest.mark.parametrize('script', ONE_FAST)
def test_disk_full_keeps_the_old_files(small_disk, tmp_path, script):
    tiny, _, _ = SCRIPTS[script]
    out = small_disk / ('out' if SCRIPTS[script][2] != [''] else 'out.bin')
    plant_old_outputs(script, out)
    fill(small_disk)
    before = snapshot(small_disk)
    for _ in range(2):                                            # the second run finds what the first left: nothing
        r = run(script, tiny(out), tmp_path / 'data')
        assert r.returncode == 1 and 'No space left on device' in last_line(r) and str(out) in last_line(r), r.stderr
        assert 'Traceback' not in r.stderr
        assert snapshot(small_disk) == before                    # old results intact, no temporary file left
    (small_disk / 'ballast').unlink()
    assert run(script, tiny(out), tmp_path / 'data').returncode == 0 and not temps(small_disk)


@pytest.mark.parametrize('script', ONE_FAST)
def test_read_only_folder_is_refused_before_work(small_disk, tmp_path, script):
    _, long, _ = SCRIPTS[script]
    out = small_disk / ('out' if SCRIPTS[script][2] != [''] else 'out.bin')
    plant_old_outputs(script, out)
    before = snapshot(small_disk)
    assert subprocess.run(['mount', '-o', 'remount,ro', str(small_disk)]).returncode == 0
    for target in [out, small_disk / 'new', small_disk / 'sub' / 'new']:
        t0 = time.perf_counter()
        r = run(script, long(target), tmp_path / 'data')
        assert r.returncode == 1 and str(target) in last_line(r) and 'Traceback' not in r.stderr, r.stderr
        assert time.perf_counter() - t0 < 30                      # refused before the minutes of work
    assert snapshot(small_disk) == before


@pytest.mark.parametrize('script', ONE_FAST)
def test_sigkill_at_random_moments(tmp_path, script):
    tiny, long, _ = SCRIPTS[script]
    out, data = tmp_path / 'work' / 'out', tmp_path / 'data'
    plant_old_outputs(script, out)
    before, rng = snapshot(out.parent), random.Random(script)
    for _ in range(3):
        p = run(script, long(out), data, wait=False)
        time.sleep(rng.uniform(1.0, 8.0))
        p.kill(); p.wait(timeout=30)
        after = snapshot(out.parent)
        assert {k: after.get(k) for k in before} == before       # every earlier result byte-identical
        assert all(k.name.endswith('.tmp') for k in after if k not in before)   # at most a temporary file added
    r = run(script, tiny(out), data)                               # the next run cleans up what the killed ones left
    assert r.returncode == 0, r.stderr
    assert not temps(tmp_path)
