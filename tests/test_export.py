"""Meshes and orbit videos from the command line: wysiwyg-generate --shapes --orbit writes every format for the
shipped checkpoint, each loads back, and an output already on disk stops the command before anything is written."""
import json, os, subprocess, sys
from pathlib import Path

import imageio.v3 as iio
import trimesh

BIN, SHIPPED_GAN = Path(sys.executable).parent, Path(__file__).resolve().parent.parent / 'data' / 'gan_tiny.pt'
ENV = dict(os.environ, OMP_NUM_THREADS='1')
GEN = [str(BIN / 'wysiwyg-generate'), '--ckpt', str(SHIPPED_GAN), '--seeds', '0', '--views', '1', '--mesh_res', '40',
       '--frames', '4', '--shapes', 'ply,obj,glb', '--orbit', 'gif,mp4', '--quiet']


def test_generate_writes_meshes_and_orbits_that_load_back(tmp_path):
    r = subprocess.run(GEN + ['--out', str(tmp_path)], env=ENV, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    meshes = {k: trimesh.load(tmp_path / f'seed0000.{k}', force='mesh', process=False) for k in ('ply', 'obj', 'glb')}
    report = json.loads((tmp_path / 'mesh_report.json').read_text())['0']
    assert all(len(m.faces) == report['faces'] and m.volume > 0 for m in meshes.values()) and report['watertight']
    assert iio.imread(tmp_path / 'seed0000_orbit.gif').shape == (4, 64, 64, 3)
    assert iio.imread(tmp_path / 'seed0000_orbit.mp4', plugin='FFMPEG').shape[0] == 4


def test_an_existing_mesh_stops_generate_before_it_writes_anything(tmp_path):
    (tmp_path / 'seed0000.glb').write_text('a mesh made by hand')
    r = subprocess.run(GEN + ['--out', str(tmp_path)], env=ENV, capture_output=True, text=True)
    assert r.returncode == 1 and 'seed0000.glb: already exists' in r.stderr.strip().splitlines()[-1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ['seed0000.glb'] and (tmp_path / 'seed0000.glb').read_text() == 'a mesh made by hand'
