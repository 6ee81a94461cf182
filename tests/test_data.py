"""Integration tests of wysiwyg.data: the `wysiwyg-dataset` console script end to end, atomic writes, and every
bad-input case of `EG3DDataset` (each must raise `DatasetError` naming the file and the problem)."""
import hashlib, io, json, shutil, signal, subprocess, sys, time, zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from wysiwyg.cameras import look_at_camera
from wysiwyg.data import DatasetError, EG3DDataset, make_synthetic_dataset, synthetic_scene


def cli_path():
    "The console script of this environment (next to the interpreter running the tests), else the one on PATH."
    exe = Path(sys.executable).parent / 'wysiwyg-dataset'
    found = str(exe) if exe.exists() else shutil.which('wysiwyg-dataset')
    if not found: pytest.fail("wysiwyg-dataset is not installed: run `pip install -e . --no-deps`")
    return found


def run_cli(*args, timeout=300):
    return subprocess.run([cli_path(), *map(str, args)], capture_output=True, text=True, timeout=timeout)


def sha(p): return hashlib.sha256(Path(p).read_bytes()).hexdigest()


# ------------------------------------------------------------------ the CLI end to end

def test_cli_end_to_end(tmp_path):
    out = tmp_path / 'sub' / 'heads.zip'
    r = run_cli('--out', out, '--n', 6, '--res', 16, '--seed', 3)
    assert r.returncode == 0, r.stderr
    assert 'wrote' in r.stdout and str(out) in r.stdout
    assert '6/6' in r.stderr                                          # the tqdm progress bar
    ds = EG3DDataset(out, geometry=True)
    assert len(ds) == 6 and ds.resolution == 16 and ds.has_geometry
    img, label, geo = ds[5]
    assert img.shape == (3, 16, 16) and img.dtype == torch.float32 and img.min() >= -1 and img.max() <= 1
    assert label.shape == (25,)
    assert geo['depth'].shape == (1, 16, 16) and geo['normals'].shape == (3, 16, 16) and geo['mask'].dtype == torch.bool
    assert geo['mask'].any() and (geo['depth'][geo['mask']] > 2.0).all()   # the cameras are 2.7 from the origin
    _, poses = synthetic_scene(6, seed=3)
    assert torch.allclose(ds.labels, poses)
    assert [p.name for p in out.parent.iterdir()] == ['heads.zip']   # no temporary file left behind


def test_cli_is_deterministic_across_processes(tmp_path):
    a, b = tmp_path / 'a.zip', tmp_path / 'b.zip'
    for p in (a, b): assert run_cli('--out', p, '--n', 4, '--res', 16, '--seed', 7, '--quiet').returncode == 0
    c = make_synthetic_dataset(tmp_path / 'c.zip', n=4, resolution=16, seed=7, progress=False)
    assert sha(a) == sha(b) == sha(c)
    d = make_synthetic_dataset(tmp_path / 'd.zip', n=4, resolution=16, seed=8, progress=False)
    assert sha(d) != sha(a)


def test_cli_bad_arguments(tmp_path):
    "Bad arguments exit non-zero with a message saying which; nothing is written. (Processes run in parallel.)"
    out = ('--out', tmp_path / 'x.zip')
    cases = [((), '--out PATH is required'), (out + ('--n', 0), '--n must be at least 1'),
             (out + ('--res', 2), '--res must be at least 4'), (('--out', tmp_path, '--n', 2), 'is a folder')]
    procs = [subprocess.Popen([cli_path(), *map(str, a)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for a, _ in cases]
    for proc, (args, problem) in zip(procs, cases):
        _, err = proc.communicate(timeout=120)
        assert proc.returncode != 0 and problem in err, (args, err)
    assert list(tmp_path.iterdir()) == []


def _default_sigint():
    "The child gets Ctrl-C's default meaning even when this test runs as a background job (where SIGINT is ignored)."
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=['SIGINT', 'SIGTERM', 'SIGKILL'])
def test_interrupted_run_leaves_no_partial_zip(tmp_path, sig):
    "Killing the generator mid-way leaves the previous file (here: none, then an old dataset) untouched."
    out = tmp_path / 'big.zip'
    for previous in (None, 'old'):
        if previous: make_synthetic_dataset(out, n=2, resolution=8, seed=0, progress=False)
        before = sha(out) if previous else None
        proc = subprocess.Popen([cli_path(), '--out', str(out), '--n', '3000', '--res', '64', '--batch', '64', '--quiet',
                                 '--overwrite'], stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_default_sigint)
        deadline = time.time() + 120
        mine = f'.big.zip.{proc.pid}.*.tmp'                            # this writer's temporary file
        while not list(tmp_path.glob(mine)) and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        tmp = list(tmp_path.glob(mine))
        assert tmp, "the generator never started writing its temporary file"
        while tmp[0].exists() and tmp[0].stat().st_size < 20_000 and time.time() < deadline: time.sleep(0.05)
        proc.send_signal(sig)
        proc.wait(timeout=60)
        assert proc.returncode != 0
        if previous: assert sha(out) == before                       # the old dataset is intact
        else: assert not out.exists()
        if sig != signal.SIGKILL: assert not list(tmp_path.glob('.*.tmp'))  # cleaned up (KeyboardInterrupt, SystemExit)
    if sig == signal.SIGKILL:                                         # the next write removes what a killed writer left
        assert list(tmp_path.glob('.big.zip.*.tmp'))
        make_synthetic_dataset(out, n=2, resolution=8, seed=1, progress=False, overwrite=True)
        assert not list(tmp_path.glob('.big.zip.*.tmp'))


def test_dataloader_workers(tmp_path):
    "A zip dataset can be sent to DataLoader worker processes (each opens its own zip handle)."
    p = make_synthetic_dataset(tmp_path / 'w.zip', n=6, resolution=8, seed=0, progress=False)
    dl = torch.utils.data.DataLoader(EG3DDataset(p, geometry=True), batch_size=3, num_workers=2)
    batches = list(dl)
    assert len(batches) == 2
    img, lab, geo = batches[0]
    assert img.shape == (3, 3, 8, 8) and lab.shape == (3, 25) and geo['normals'].shape == (3, 3, 8, 8)


# ------------------------------------------------------------------ bad inputs

LABELS = look_at_camera(torch.tensor([1.3, 1.6, 1.9]), torch.tensor([1.5, 1.6, 1.7])).tolist()
NAMES = ['img00000000.png', 'img00000001.png', 'img00000002.png']


def png(size=(8, 8), colour=(200, 100, 50)):
    b = io.BytesIO(); Image.new('RGB', size, colour).save(b, format='PNG'); return b.getvalue()


def good_files():
    "name -> bytes of a valid 3-image dataset."
    files = {n: png() for n in NAMES}
    files['dataset.json'] = json.dumps({'labels': [[n, l] for n, l in zip(NAMES, LABELS)]}).encode()
    return files


def write(tmp_path, files, kind):
    "Write `files` (name -> bytes, or None to leave out) as a zip or a folder; returns its path."
    if kind == 'zip':
        path = tmp_path / 'ds.zip'
        with zipfile.ZipFile(path, 'w') as z:
            for n, b in files.items():
                if b is not None: z.writestr(n, b)
    else:
        path = tmp_path / 'ds'
        for n, b in files.items():
            if b is not None: (path / n).parent.mkdir(parents=True, exist_ok=True); (path / n).write_bytes(b)
    return path


def labels_json(entries): return json.dumps({'labels': entries}).encode()


def changed(label, values: dict):
    "A copy of `label` with some positions replaced."
    return [values.get(j, v) for j, v in enumerate(label)]


def with_label(i, label):
    entries = [[n, l] for n, l in zip(NAMES, LABELS)]
    entries[i][1] = label
    return labels_json(entries)


# each case: (name, change to the good files, the file the message must name, what it must say)
CASES = [
    ('json missing', {'dataset.json': None}, 'dataset.json', 'missing'),
    ('json malformed', {'dataset.json': b'{"labels": [["img00000000.png", [1, 2'}, 'dataset.json', 'malformed JSON'),
    ('json not utf8', {'dataset.json': b'\xff\xfe{}'}, 'dataset.json', 'malformed JSON'),
    ('json no labels', {'dataset.json': b'{"images": []}'}, 'dataset.json', 'wrong structure'),
    ('json a list', {'dataset.json': b'[1, 2, 3]'}, 'dataset.json', 'wrong structure'),
    ('labels null', {'dataset.json': b'{"labels": null}'}, 'dataset.json', 'null'),
    ('labels a dict', {'dataset.json': b'{"labels": {"img00000000.png": []}}'}, 'dataset.json', 'wrong structure'),
    ('labels empty', {'dataset.json': b'{"labels": []}'}, 'dataset.json', 'non-empty list'),
    ('entry not a pair', {'dataset.json': labels_json([['img00000000.png', LABELS[0], 3]])}, 'dataset.json',
     'entry 0'),
    ('entry name not a string', {'dataset.json': labels_json([[7, LABELS[0]]])}, 'dataset.json', 'wrong structure'),
    ('label too short', {'dataset.json': with_label(1, LABELS[1][:24])}, 'img00000001.png', 'has 24 numbers'),
    ('label too long', {'dataset.json': with_label(2, LABELS[2] + [0.0])}, 'img00000002.png', 'has 26 numbers'),
    ('label not a list', {'dataset.json': with_label(1, 3.0)}, 'img00000001.png', 'not a list'),
    ('label with a string', {'dataset.json': with_label(1, LABELS[1][:5] + ['x'] + LABELS[1][6:])},
     'img00000001.png', 'not a number'),
    ('label with a bool', {'dataset.json': with_label(1, [True] + LABELS[1][1:])}, 'img00000001.png', 'not a number'),
    ('label with NaN', {'dataset.json': with_label(0, LABELS[0][:3] + [float('nan')] + LABELS[0][4:])},
     'img00000000.png', 'nan at position 3'),
    ('label with Infinity', {'dataset.json': with_label(2, [float('inf')] + LABELS[2][1:])}, 'img00000002.png',
     'inf at position 0'),
    ('label null', {'dataset.json': with_label(1, None)}, 'img00000001.png', 'not 25 finite numbers'),
    ('name listed twice', {'dataset.json': labels_json([[NAMES[0], LABELS[0]], [NAMES[0], LABELS[1]]])},
     'img00000000.png', 'listed twice'),
    ('name escapes the dataset', {'dataset.json': labels_json([['../img00000000.png', LABELS[0]]])},
     'dataset.json', 'not a relative path'),
    ('image missing', {'img00000001.png': None}, 'img00000001.png', 'missing image'),
    ('image garbage', {'img00000002.png': b'this is not an image'}, 'img00000002.png', 'cannot decode image'),
    ('image truncated', {'img00000001.png': png()[:40]}, 'img00000001.png', 'cannot decode image'),
    ('image corrupted', {'img00000001.png': png()[:-30] + bytes(18) + png()[-12:]}, 'img00000001.png',
     'cannot decode image'),
    ('mixed sizes', {'img00000002.png': png((16, 16))}, 'img00000002.png', 'mixed image sizes'),
    ('not square', {n: png((8, 6)) for n in NAMES}, 'img00000000.png', 'must be square'),
    # finite numbers that are not a camera (each would otherwise load and fail much later)
    ('label too big for float32', {'dataset.json': with_label(1, changed(LABELS[1], {3: 1e300}))}, 'img00000001.png',
     'not finite as a float32'),
    ('scaled rotation', {'dataset.json': with_label(1, changed(LABELS[1], {0: 2 * LABELS[1][0], 4: 2 * LABELS[1][4],
                                                                           8: 2 * LABELS[1][8]}))},
     'img00000001.png', 'not orthonormal'),
    ('reflected rotation', {'dataset.json': with_label(0, changed(LABELS[0], {j: -LABELS[0][j] for j in (0, 4, 8)}))},
     'img00000000.png', 'reflected'),
    ('bottom row', {'dataset.json': with_label(2, changed(LABELS[2], {12: 0.5}))}, 'img00000002.png', 'bottom row'),
    ('focal 0', {'dataset.json': with_label(1, changed(LABELS[1], {16: 0.0}))}, 'img00000001.png', 'focal lengths'),
    ('pixel intrinsics', {'dataset.json': with_label(1, changed(LABELS[1], {16: 2183.0, 18: 256.0, 20: 2183.0, 21: 256.0}))},
     'img00000001.png', 'pixel units'),
    ('OpenGL pose', {'dataset.json': with_label(2, changed(LABELS[2], {j: -LABELS[2][j] for j in (1, 5, 9, 2, 6, 10)}))},
     'img00000002.png', 'OpenGL axes'),
    ('world2cam pose', {'dataset.json': with_label(0, changed(LABELS[0], {3: 4.0, 7: 4.0}))}, 'img00000000.png',
     'misses the scene box'),
]


@pytest.mark.parametrize('kind', ['zip', 'folder'])
@pytest.mark.parametrize('case, change, fname, problem', CASES, ids=[c[0] for c in CASES])
def test_bad_input(tmp_path, kind, case, change, fname, problem):
    path = write(tmp_path, {**good_files(), **change}, kind)
    with pytest.raises(DatasetError) as e: EG3DDataset(path)
    msg = str(e.value)
    assert fname in msg and problem in msg, msg
    assert msg.startswith(str(path)), msg                            # the message starts with the file's path
    assert isinstance(e.value, ValueError)


@pytest.mark.parametrize('kind', ['zip', 'folder'])
def test_good_input_reads(tmp_path, kind):
    "The good files themselves load (so each bad case above fails for its own reason), with names in folders too."
    files = good_files()
    files['00001/img00000003.png'] = png(colour=(0, 0, 255))
    entries = json.loads(files['dataset.json'])['labels'] + [['00001\\img00000003.png', LABELS[0]]]
    files['dataset.json'] = labels_json(entries)
    files['unlisted.png'] = png((5, 5))                             # not in dataset.json: ignored
    ds = EG3DDataset(write(tmp_path, files, kind))
    assert len(ds) == 4 and ds.resolution == 8 and not ds.has_geometry
    img, lab = ds[3]
    assert torch.allclose(img[:, 0, 0], torch.tensor([-1.0, -1.0, 1.0]))
    assert torch.allclose(lab, torch.tensor(LABELS[0]))


def test_paths_that_are_not_datasets(tmp_path):
    with pytest.raises(DatasetError, match='no such file or folder'): EG3DDataset(tmp_path / 'nope.zip')
    (tmp_path / 'x.zip').write_bytes(b'PK but not really a zip')
    with pytest.raises(DatasetError, match=r'x\.zip: not a zip archive'): EG3DDataset(tmp_path / 'x.zip')


def test_geometry_requested_but_missing(tmp_path):
    path = write(tmp_path, good_files(), 'zip')
    assert len(EG3DDataset(path)) == 3
    with pytest.raises(DatasetError) as e: EG3DDataset(path, geometry=True)
    assert 'geometry/img00000000.depth.npy' in str(e.value) and 'missing ground-truth geometry' in str(e.value)


def test_bad_geometry_file(tmp_path):
    p = make_synthetic_dataset(tmp_path / 'g.zip', n=2, resolution=8, seed=0, progress=False)
    with zipfile.ZipFile(p) as z: files = {n: z.read(n) for n in z.namelist()}
    b = io.BytesIO(); np.save(b, np.zeros((4, 4), np.float32)); files['geometry/img00000001.depth.npy'] = b.getvalue()
    files['geometry/img00000000.mask.npy'] = b'garbage'
    ds = EG3DDataset(write(tmp_path, files, 'zip'), geometry=True)
    with pytest.raises(DatasetError, match=r'img00000000\.mask\.npy: cannot read \.npy'): ds[0]
    with pytest.raises(DatasetError, match=r'img00000001\.depth\.npy: depth has shape \(4, 4\), expected \(8, 8\)'): ds[1]


def test_undecodable_image_found_lazily(tmp_path):
    "With verify=False only headers are read at construction; a broken image is still named when it is loaded."
    files = good_files()
    files['img00000001.png'] = png()[:-30] + bytes(18) + png()[-12:]
    ds = EG3DDataset(write(tmp_path, files, 'zip'), verify=False)
    ds[0]
    with pytest.raises(DatasetError, match=r'img00000001\.png: cannot decode image'): ds[1]
