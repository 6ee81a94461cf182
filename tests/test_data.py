"""Integration tests of wysiwyg.data: the `wysiwyg-dataset` console script end to end, atomic writes, every
bad-input case of `EG3DDataset` (each must raise `DatasetError` naming the file and the problem), pixel formats
(16-bit, transparency), name spellings, size limits, a zip replaced after opening, and files that would inflate to
hundreds of MB (refused before they are read, measured in a fresh process)."""
import hashlib, io, json, os, pickle, shutil, signal, struct, subprocess, sys, time, zipfile, zlib
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


def _default_sigint(cmd: list) -> list:
    """`cmd` run with Ctrl-C's default meaning even when this test runs as a background job (where SIGINT is ignored):
    a small launcher resets SIGINT and execs `cmd` in the same process. (`preexec_fn` would run Python code in the
    forked child before exec, which Python documents as unsafe in a process with threads, as a pytest-xdist worker is.)"""
    reset = 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])'
    return [sys.executable, '-c', reset, *cmd]


def _wait_for(sign, proc, what: str, errors: Path, limit: float = 600) -> float:
    "Seconds until `sign()` holds; fail, saying what the child did, if it exits first or `limit` seconds pass."
    t0 = time.time()
    while not sign():
        if proc.poll() is not None: pytest.fail(f"the generator exited ({proc.returncode}) before {what}: {errors.read_text()[-800:]!r}")
        if time.time() - t0 > limit: pytest.fail(f"after {limit} s still no sign that {what}; the generator is still running")
        time.sleep(0.02)
    return time.time() - t0


@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=['SIGINT', 'SIGTERM', 'SIGKILL'])
def test_interrupted_run_leaves_no_partial_zip(tmp_path, sig):
    "Killing the generator mid-way leaves the previous file (here: none, then an old dataset) untouched."
    out, errors = tmp_path / 'big.zip', tmp_path / 'stderr.txt'
    for previous in (None, 'old'):
        if previous: make_synthetic_dataset(out, n=2, resolution=8, seed=0, progress=False)
        before = sha(out) if previous else None
        with open(errors, 'w') as err:                                 # a file, not a pipe nobody reads: it cannot fill up
            proc = subprocess.Popen(_default_sigint([cli_path(), '--out', str(out), '--n', '3000', '--res', '64', '--batch', '64',
                                                     '--quiet', '--overwrite']), stdout=subprocess.DEVNULL, stderr=err)
        def inside_the_write():                                        # its temporary file holds the first batch (20 kB)
            mine = list(tmp_path.glob(f'.big.zip.{proc.pid}.*.tmp'))
            try: return bool(mine) and mine[0].stat().st_size >= 20_000
            except FileNotFoundError: return False
        waited = _wait_for(inside_the_write, proc, 'it is inside its write', errors)
        print(f"{previous or 'none'}: the writer was inside its write after {waited:.1f} s")
        proc.send_signal(sig)
        proc.wait(timeout=120)
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


def img_bytes(im, fmt='PNG', **kw):
    "The bytes of PIL image `im` saved as `fmt`."
    b = io.BytesIO(); im.save(b, format=fmt, **kw); return b.getvalue()


def png16(a, colour_type):
    "A 16-bit PNG written by hand from uint16 `a` (H, W[, C]); colour type 0 grey, 2 RGB, 6 RGBA."
    def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
    h, w = a.shape[:2]
    raw = b''.join(b'\0' + a[y].astype('>u2').tobytes() for y in range(h))      # filter 0 on every row
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 16, colour_type, 0, 0, 0))
            + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))


def npy(a):
    b = io.BytesIO(); np.save(b, a); return b.getvalue()


def good_files():
    "name -> bytes of a valid 3-image dataset."
    files = {n: png() for n in NAMES}
    files['dataset.json'] = json.dumps({'labels': [[n, l] for n, l in zip(NAMES, LABELS)]}).encode()
    return files


def write(tmp_path, files, kind, compress=False):
    "Write `files` (name -> bytes, or None to leave out) as a zip (deflated if `compress`) or a folder; returns its path."
    if kind == 'zip':
        path = tmp_path / 'ds.zip'
        with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) as z:
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
    ('name empty', {'dataset.json': labels_json([['', LABELS[0]]])}, 'dataset.json', 'not a relative path'),
    ('name escapes after ./', {'dataset.json': labels_json([['./a/../../img00000000.png', LABELS[0]]])},
     'dataset.json', 'not a relative path'),
    # one file under two spellings is one name (in zips and folders alike)
    ('name listed twice as ./', {'dataset.json': labels_json([[NAMES[0], LABELS[0]], ['./' + NAMES[0], LABELS[1]]])},
     "'img00000000.png' is listed twice (here as './img00000000.png')", 'entry 1'),
    ('name listed twice with //', {'dataset.json': labels_json([['00001/' + NAMES[0], LABELS[0]],
                                                                ['00001//' + NAMES[0], LABELS[1]]])},
     "'00001/img00000000.png' is listed twice", 'entry 1'),
    ('name listed twice with /./ and \\', {'dataset.json': labels_json([['00001/./' + NAMES[0], LABELS[0]],
                                                                        ['00001\\' + NAMES[0], LABELS[1]]])},
     "'00001/img00000000.png' is listed twice", 'entry 1'),
    ('json too large', {'dataset.json': with_label(0, LABELS[0]) + b' ' * 1_100_000}, 'dataset.json',
     'bytes is more than the 1,064,960 allowed for dataset.json here'),
    ('image missing', {'img00000001.png': None}, 'img00000001.png', 'missing image'),
    ('image garbage', {'img00000002.png': b'this is not an image'}, 'img00000002.png', 'cannot decode image'),
    ('image truncated', {'img00000001.png': png()[:40]}, 'img00000001.png', 'cannot decode image'),
    ('image corrupted', {'img00000001.png': png()[:-30] + bytes(18) + png()[-12:]}, 'img00000001.png',
     'cannot decode image'),
    ('mixed sizes', {'img00000002.png': png((16, 16))}, 'img00000002.png', 'mixed image sizes'),
    ('not square', {n: png((8, 6)) for n in NAMES}, 'img00000000.png', 'must be square'),
    ('image mode F', {'img00000001.png': img_bytes(Image.fromarray(np.ones((8, 8), np.float32)), 'TIFF')},
     'img00000001.png', "image mode 'F' is not supported"),
    ('image mode CMYK', {'img00000002.png': img_bytes(Image.new('CMYK', (8, 8)), 'JPEG')}, 'img00000002.png',
     "image mode 'CMYK' is not supported"),
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


@pytest.mark.parametrize('kind', ['zip', 'folder'])
def test_bad_geometry_file(tmp_path, kind):
    "A .npy header is checked (shape, dtype, and the file's length) before its data is read."
    p = make_synthetic_dataset(tmp_path / 'g.zip', n=6, resolution=8, seed=0, progress=False)
    with zipfile.ZipFile(p) as z: files = {n: z.read(n) for n in z.namelist()}
    good = files['geometry/img00000005.depth.npy']
    files['geometry/img00000000.mask.npy'] = b'garbage'
    files['geometry/img00000001.depth.npy'] = npy(np.zeros((4, 4), np.float32))
    files['geometry/img00000002.mask.npy'] = npy(np.zeros((8, 8), np.float32))
    files['geometry/img00000003.normals.npy'] += bytes(10)                                    # longer than declared
    files['geometry/img00000004.depth.npy'] = files['geometry/img00000004.depth.npy'][:-4]    # truncated
    ds = EG3DDataset(write(tmp_path, files, kind), geometry=True)
    with pytest.raises(DatasetError, match=r'img00000000\.mask\.npy: cannot read \.npy'): ds[0]
    with pytest.raises(DatasetError, match=r'img00000001\.depth\.npy: depth has shape \(4, 4\), expected \(8, 8\)'): ds[1]
    with pytest.raises(DatasetError, match=r'img00000002\.mask\.npy: mask has dtype float32, expected a bool dtype'): ds[2]
    with pytest.raises(DatasetError, match=r'img00000003\.normals\.npy: the file has 522 bytes but its header declares 512'):
        ds[3]
    with pytest.raises(DatasetError, match=r'img00000004\.depth\.npy: the file has 380 bytes but its header declares 384'):
        ds[4]
    assert torch.equal(ds[5][2]['depth'][0], torch.from_numpy(np.load(io.BytesIO(good))))   # a good file reads as np.load


def test_undecodable_image_found_lazily(tmp_path):
    "With verify=False only headers are read at construction; a broken image is still named when it is loaded."
    files = good_files()
    files['img00000001.png'] = png()[:-30] + bytes(18) + png()[-12:]
    ds = EG3DDataset(write(tmp_path, files, 'zip'), verify=False)
    ds[0]
    with pytest.raises(DatasetError, match=r'img00000001\.png: cannot decode image'): ds[1]


def test_mode_I_outside_16_bits_found_when_loaded(tmp_path):
    "A 32-bit integer image is read as 16-bit grey; values outside 0..65535 are refused, naming the file."
    files = {**good_files(), NAMES[1]: img_bytes(Image.fromarray(np.full((8, 8), 70000, np.int32)), 'TIFF')}
    ds = EG3DDataset(write(tmp_path, files, 'zip'))
    ds[0]
    with pytest.raises(DatasetError, match=r"img00000001\.png: mode 'I' image has values outside 0\.\.65535"): ds[1]


# ------------------------------------------------------------------ pixel formats: 16 bits and transparency

def full(v, c=None): return np.full((8, 8) + ((c,) if c else ()), v, np.uint16)


def palette_red(alpha):
    "An 8x8 palette PNG, all pixels entry 1 (pure red) with opacity `alpha` from a tRNS chunk."
    p = Image.new('P', (8, 8), 1); p.putpalette([0, 0, 0, 255, 0, 0])
    return img_bytes(p, transparency=bytes([255, alpha]))


# each: (name, the bytes of an 8x8 image, the rgb it must read as, on the 8-bit scale)
PIXELS = [
    ('16-bit grey PNG', png16(full(32896), 0), (128, 128, 128)),
    ('16-bit grey PNG, dark', png16(full(1000), 0), (1000 / 257,) * 3),         # convert('RGB') made it white
    ('16-bit grey big-endian TIFF', img_bytes(Image.frombytes('I;16B', (8, 8), full(65535).astype('>u2').tobytes()),
                                               'TIFF'), (255, 255, 255)),
    ('32-bit integer grey TIFF', img_bytes(Image.fromarray(full(32896).astype(np.int32)), 'TIFF'), (128, 128, 128)),
    ('16-bit RGB PNG', png16(np.stack([full(65535), full(32768), full(0)], -1), 2), (255, 128, 0)),  # PIL: high byte
    ('16-bit RGBA PNG', png16(np.stack([full(65535), full(0), full(0), full(32896)], -1), 6), (128, 0, 0)),
    ('RGBA half-transparent red', img_bytes(Image.new('RGBA', (8, 8), (255, 0, 0, 128))), (128, 0, 0)),
    ('LA', img_bytes(Image.new('LA', (8, 8), (255, 64))), (64, 64, 64)),
    ('P with alpha in tRNS', palette_red(128), (128, 0, 0)),
    ('L with a transparent grey', img_bytes(Image.new('L', (8, 8), 100), transparency=100), (0, 0, 0)),
    ('16-bit grey with a transparent grey', img_bytes(Image.fromarray(full(1000)), transparency=1000), (0, 0, 0)),
    ('8-bit RGB', png(colour=(0, 51, 255)), (0, 51, 255)),
]


@pytest.mark.parametrize('kind', ['zip', 'folder'])
@pytest.mark.parametrize('case, data, rgb', PIXELS, ids=[c[0] for c in PIXELS])
def test_pixel_formats(tmp_path, kind, case, data, rgb):
    "16-bit values are scaled, not clipped; transparent pixels are composited over black (ALPHA_BACKGROUND)."
    ds = EG3DDataset(write(tmp_path, {**good_files(), NAMES[0]: data}, kind))
    img = ds[0][0]
    assert img.shape == (3, 8, 8) and img.dtype == torch.float32
    assert torch.allclose((img[:, 3, 5] + 1) * 127.5, torch.tensor(rgb, dtype=torch.float32), atol=1e-3), img[:, 3, 5]


def test_half_transparent_red_over_black(tmp_path):
    ds = EG3DDataset(write(tmp_path, {**good_files(), NAMES[0]: img_bytes(Image.new('RGBA', (8, 8), (255, 0, 0, 128)))},
                           'folder'))
    assert torch.allclose((ds[0][0][:, 0, 0] + 1) / 2, torch.tensor([128 / 255, 0, 0]), atol=1e-6)


# ------------------------------------------------------------------ names

@pytest.mark.parametrize('kind', ['zip', 'folder'])
def test_names_in_normal_form(tmp_path, kind):
    "Names with ./, //, /./ or backslashes find the same file in zips and folders, and are kept in normal form."
    stored = ['img00000000.png', 'img00000001.png', '00001/img00000002.png', '00001/img00000003.png',
              '00001/sub/img00000004.png']
    written = ['./img00000000.png', '.\\img00000001.png', '00001/./img00000002.png', '00001//img00000003.png',
               '00001\\sub\\img00000004.png']
    files = {n: png(colour=(40 * i, 0, 0)) for i, n in enumerate(stored)}
    files['dataset.json'] = labels_json([[w, LABELS[i % 3]] for i, w in enumerate(written)])
    ds = EG3DDataset(write(tmp_path, files, kind))
    assert ds.fnames == stored
    for i in range(5): assert torch.allclose((ds[i][0][:, 0, 0] + 1) * 127.5, torch.tensor([40. * i, 0, 0]), atol=1e-4)


def test_zip_member_names_in_normal_form(tmp_path):
    "A zip whose members are stored as ./name or a//b is read like a folder."
    files = good_files()
    files['./' + NAMES[0]] = files.pop(NAMES[0])
    files['.//' + NAMES[2]] = files.pop(NAMES[2])
    ds = EG3DDataset(write(tmp_path, files, 'zip'))
    assert len(ds) == 3 and ds[0][0].shape == (3, 8, 8) and ds[2][0].shape == (3, 8, 8)


# ------------------------------------------------------------------ sizes

@pytest.mark.parametrize('kind', ['zip', 'folder'])
def test_json_limit_grows_with_the_files(tmp_path, kind):
    "A 1.1 MB dataset.json is too large for 3 files, not for 103 (1 MB + 4 KB a file)."
    files = {**good_files(), 'dataset.json': with_label(0, LABELS[0]) + b' ' * 1_100_000}
    files.update({f'extra/{k}.txt': b'' for k in range(100)})
    assert len(EG3DDataset(write(tmp_path, files, kind))) == 3


@pytest.mark.parametrize('kind', ['zip', 'folder'])
def test_image_file_too_large(tmp_path, kind):
    "An image file over MAX_IMAGE_BYTES (64 MB) is refused at construction, before it is read."
    path = write(tmp_path, {**good_files(), NAMES[1]: png() + bytes(65 << 20)}, kind, compress=True)
    with pytest.raises(DatasetError) as e: EG3DDataset(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}/img00000001.png: 68,157,") and 'allowed for an image file (MAX_IMAGE_BYTES)' in msg, msg


# ------------------------------------------------------------------ the zip's identity

@pytest.mark.parametrize('how', ['replaced', 'rewritten'])
def test_zip_changed_after_opening(tmp_path, how):
    "A worker never reads images from a zip other than the one whose labels the dataset holds."
    p = make_synthetic_dataset(tmp_path / 'r.zip', n=4, resolution=8, seed=0, progress=False)
    ds = EG3DDataset(p)
    assert torch.equal(pickle.loads(pickle.dumps(ds))[1][0], ds[1][0])               # pickling still works
    other = make_synthetic_dataset(tmp_path / 'other.zip', n=4, resolution=8, seed=1, progress=False)
    if how == 'replaced': os.replace(other, p)
    else: p.write_bytes(other.read_bytes())
    with pytest.raises(Exception) as e: list(torch.utils.data.DataLoader(ds, batch_size=2, num_workers=1))
    assert f"{p}: changed since the dataset was opened (replaced or rewritten); open the dataset again" in str(e.value)
    assert len(list(torch.utils.data.DataLoader(EG3DDataset(p), batch_size=2, num_workers=1))) == 2   # opened again


# ------------------------------------------------------------------ make_synthetic_dataset's arguments

@pytest.mark.parametrize('batch_size', [0, -1])
def test_batch_size_below_one(tmp_path, batch_size):
    with pytest.raises(ValueError, match=f'batch_size={batch_size}'):
        make_synthetic_dataset(tmp_path / 'b.zip', n=2, resolution=8, batch_size=batch_size, progress=False)
    assert list(tmp_path.iterdir()) == []                                # refused before anything was written


# ------------------------------------------------------------------ memory: nothing is inflated before it is checked

CHILD = r"""
import resource, sys, zipfile
from wysiwyg.data import DatasetError, EG3DDataset
def peak(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024    # MB (Linux reports KiB)
base = peak()
if sys.argv[2:] == ['raw']: print('read', len(zipfile.ZipFile(sys.argv[1]).read('dataset.json')), 'bytes')
else:
    try: EG3DDataset(sys.argv[1], geometry=True)[0]; print('not refused')
    except DatasetError as e: print('refused:', e)
print(f'baseline {base:.0f} MB, increase {peak() - base:.1f} MB')
"""


def increase(out): return float(out.split('increase ')[-1].split(' MB')[0])


def stream_zip(path, files, big, head, fill, n, tail=b''):
    "A deflated zip of `files` plus `big` = head + `n` bytes of `fill` + tail, written 1 MB at a time."
    chunk = fill * (1 << 20)
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED) as z:
        for k, v in files.items():
            if k != big: z.writestr(k, v)
        with z.open(big, 'w') as f:
            f.write(head)
            for _ in range(n >> 20): f.write(chunk)
            f.write(tail)
    return path


def understate(path, name, size):
    "Make the zip's central directory declare `size` bytes for member `name` (its data is unchanged)."
    b = bytearray(path.read_bytes())
    i = b.find(b'PK\x01\x02')
    while b[i + 46:i + 46 + len(name)] != name.encode(): i = b.find(b'PK\x01\x02', i + 4)
    struct.pack_into('<I', b, i + 24, size)
    path.write_bytes(b)
    return path


def npy_header(shape):
    b = io.BytesIO(); np.lib.format.write_array_header_1_0(b, dict(descr='<f4', fortran_order=False, shape=shape))
    return b.getvalue()


def test_memory_bombs_are_refused_unread(tmp_path):
    "Files that inflate to 400 MB (or say they hold more) are refused, in a fresh process, with little memory used."
    synth = make_synthetic_dataset(tmp_path / 's.zip', n=1, resolution=8, seed=0, progress=False)
    with zipfile.ZipFile(synth) as z: geo = {n: z.read(n) for n in z.namelist()}
    big, depth = 400 << 20, 'geometry/img00000000.depth.npy'
    bombs = {
        'json': (stream_zip(tmp_path / 'json.zip', good_files(), 'dataset.json', b'{"labels": [', b' ', big, b']}'),
                 'allowed for dataset.json here'),
        'json, size understated': (understate(stream_zip(tmp_path / 'json2.zip', good_files(), 'dataset.json',
                                                         b'{"labels": [', b' ', big, b']}'), 'dataset.json', 1000),
                                   'damaged in the zip archive'),
        'image': (stream_zip(tmp_path / 'image.zip', good_files(), NAMES[0], png(), b'\0', big),
                  'allowed for an image file'),
        'npy declaring a huge array': (stream_zip(tmp_path / 'npy.zip', geo, depth, npy_header((30000, 30000)), b'\0', big),
                                       'depth has shape (30000, 30000), expected (8, 8)'),
        'npy longer than declared': (stream_zip(tmp_path / 'npy2.zip', geo, depth, npy_header((8, 8)), b'\0', big),
                                     'but its header declares 384'),
    }
    assert all(p.stat().st_size < 1_000_000 for p, _ in bombs.values())
    runs = {k: (p,) for k, (p, _) in bombs.items()} | {'control: json read whole': (bombs['json'][0], 'raw')}
    procs = {k: subprocess.Popen([sys.executable, '-c', CHILD, *map(str, a)], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for k, a in runs.items()}
    for k, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        print(f"{k}: {out.strip().splitlines()[-1]}")
        assert proc.returncode == 0, (k, out, err)
        if k.startswith('control'): assert increase(out) > 300, out       # the bomb is real: read whole, it costs
        else: assert 'refused:' in out and bombs[k][1] in out and increase(out) < 300, (k, out, err)


def test_processes_building_the_default_dataset_at_once_all_get_it(tmp_path):
    "Notebooks run in parallel may all ask for the bundled dataset on a fresh checkout: every one gets a valid file."
    import subprocess, sys
    code = f"from wysiwyg.data import default_dataset; print(default_dataset(16, n=40, root={str(tmp_path)!r}, progress=False))"
    ps = [subprocess.Popen([sys.executable, '-c', code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [p.communicate() + (p.returncode,) for p in ps]
    assert all(rc == 0 for _, _, rc in results), [err[-300:] for _, err, _ in results]
    assert {out.strip() for out, _, _ in results} == {str(tmp_path / 'synthetic_16_n40.zip')}
