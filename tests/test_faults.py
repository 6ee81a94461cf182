"""Fault injection: a full disk, a read-only folder and SIGKILL at random moments, five times each. Every
pre-existing file stays byte-identical, every failure is one line naming the file, and no temporary file outlives
the next run. Needs root (to mount small tmpfs folders); skipped elsewhere."""
import hashlib, os, random, subprocess, sys, time
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='mounting a small tmpfs needs root')


def dataset(out, *extra, n=2, res=8):
    return subprocess.run([str(BIN / 'wysiwyg-dataset'), '--out', str(out), '--n', str(n), '--res', str(res), '--quiet',
                           *extra], capture_output=True, text=True, timeout=600)


def sha(p: Path) -> str: return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture
def small_disk(tmp_path):
    "A 256 KiB tmpfs holding a finished dataset (the file that must survive)."
    mnt = tmp_path / 'small'; mnt.mkdir()
    if subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', str(mnt)], capture_output=True).returncode:
        pytest.skip('cannot mount tmpfs here')
    try:
        assert dataset(mnt / 'd.zip').returncode == 0
        yield mnt
    finally: subprocess.run(['umount', '-l', str(mnt)])


def test_disk_full_keeps_the_old_file(small_disk):
    before = sha(small_disk / 'd.zip')
    for _ in range(5):
        r = dataset(small_disk / 'd.zip', '--overwrite', n=400, res=32)
        last = r.stderr.strip().splitlines()[-1]
        assert r.returncode != 0 and 'd.zip: could not be written (No space left on device)' in last, r.stderr
        assert 'Traceback' not in r.stderr
        assert sha(small_disk / 'd.zip') == before and sorted(p.name for p in small_disk.iterdir()) == ['d.zip']


def test_read_only_folder_is_refused_before_work(small_disk):
    before = sha(small_disk / 'd.zip')
    assert subprocess.run(['mount', '-o', 'remount,ro', str(small_disk)]).returncode == 0
    for out in ['d.zip', 'new.zip'] * 2 + ['sub/new.zip']:
        t0 = time.perf_counter()
        r = dataset(small_disk / out, '--overwrite', n=2000, res=64)
        assert r.returncode != 0 and str(small_disk / out) in r.stderr.strip().splitlines()[-1], r.stderr
        assert time.perf_counter() - t0 < 30                      # refused before rendering 2000 images
    assert sha(small_disk / 'd.zip') == before


def test_sigkill_at_random_moments(tmp_path):
    out = tmp_path / 'd.zip'
    assert dataset(out).returncode == 0
    before, rng = sha(out), random.Random(0)
    for _ in range(5):
        p = subprocess.Popen([str(BIN / 'wysiwyg-dataset'), '--out', str(out), '--n', '2000', '--res', '32', '--quiet',
                              '--overwrite'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.5, 4.0))
        p.kill(); p.wait(timeout=30)
        assert sha(out) == before
    assert dataset(out, '--overwrite', n=3).returncode == 0        # the next run cleans up what the killed ones left
    assert sorted(p.name for p in tmp_path.iterdir()) == ['d.zip']
