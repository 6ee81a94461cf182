"""Meshes, orbit videos and reconstructions from the command line: wysiwyg-generate --shapes --orbit writes every
format for the shipped checkpoint, each loads back, and an output already on disk stops the command before anything
is written; wysiwyg-invert writes its views, depth, normals and a closed mesh of a held-out head."""
import json, os, subprocess, sys
from pathlib import Path

import imageio.v3 as iio
import pytest
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


@pytest.mark.slow
def test_invert_reconstructs_a_held_out_head(tmp_path):
    from PIL import Image
    from wysiwyg.invert import heldout_views, RECONSTRUCTION_FILES
    h = heldout_views(3)
    Image.fromarray((h['image'].permute(1, 2, 0).numpy() * 255).round().astype('uint8')).save(tmp_path / 'head.png')
    r = subprocess.run([str(BIN / 'wysiwyg-invert'), '--ckpt', str(SHIPPED_GAN), '--image', str(tmp_path / 'head.png'), '--out',
                        str(tmp_path / 'rec'), '--w_steps', '2', '--g_steps', '2', '--mesh_res', '24', '--quiet'], env=ENV, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / 'rec').iterdir()) == sorted(RECONSTRUCTION_FILES)
    s = json.loads((tmp_path / 'rec' / 'inversion.json').read_text())
    assert s['loss_last'] < s['loss_first'] and trimesh.load(tmp_path / 'rec' / 'mesh.glb', force='mesh').is_watertight
