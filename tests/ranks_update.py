"""One training step (with R1) with every random draw fixed by a sample's place in the global batch, so that its update
can be compared across process counts: `python ranks_update.py OUT DATA BATCH` alone, or under torchrun (BATCH is
global). Rank 0 saves the gradients each optimiser applies, after the averaging over processes, to OUT."""
import sys
import torch
import wysiwyg.trainer as trainer
from wysiwyg.fields import TriplaneField
from wysiwyg.data import EG3DDataset
from wysiwyg.train import init_distributed
from test_train import micro_config

out, data, batch = sys.argv[1], EG3DDataset(sys.argv[2]), int(sys.argv[3])
init_distributed()
t = trainer.GANTrainer(micro_config(batch=batch), data.labels, '/tmp/unused', 'cpu')
b, first = batch // t.world, batch // t.world * t.rank                  # this process's share of the global batch
for m in t.G.modules():                                                  # noise strength 0 and frozen: noise adds 0
    if hasattr(m, 'noise_strength'): m.noise_strength.requires_grad_(False)

def draw(n):                                                             # the global batch's fakes, this rank's slice
    g = torch.Generator().manual_seed(t.step)
    z, c = torch.randn(batch, t.cfg.generator.z_dim, generator=g), t.labels[torch.randint(len(t.labels), (batch,), generator=g)]
    return z[first:first + b], c[first:first + b], c[first:first + b]
t._draw = draw

render = trainer.render_scene
def render_each(field, c, size, sampler, generator=None, **kw):          # jitter seeded per sample, not per process
    one = lambda i: render(TriplaneField(field.planes[i:i + 1], field.mlp_sdf, field.mlp_c, field.box_size), c[i:i + 1], size,
                           sampler, generator=torch.Generator().manual_seed(1000 * t.step + first + i), **kw)
    outs = [one(i) for i in range(len(c))]
    return {k: torch.cat([o[k] for o in outs]) if torch.is_tensor(outs[0][k]) and outs[0][k].dim() else outs[0][k] for k in outs[0]}
trainer.render_scene = render_each

points = trainer.eikonal_points
def points_each(c, img, n, box_size=1., generator=None):                  # L_eik's points drawn per sample, not per process
    return torch.cat([points(c[i:i + 1], {k: img[k][i:i + 1] for k in ('depth', 'opacity')}, n, box_size,
                             torch.Generator().manual_seed(2000 * t.step + first + i)) for i in range(len(c))])
trainer.eikonal_points = points_each

real, c_real = torch.stack([data.image(i) for i in range(batch)]), data.labels[:batch]
applied = {}
def record(name, module):                                                # runs after the trainer's averaging hook
    return lambda opt, *_: applied.update({f'{name}.{n}': p.grad.clone() for n, p in module.named_parameters() if p.grad is not None})
for name, module in dict(G=t.G, D=t.D).items(): t.opt[name].register_step_pre_hook(record(name, module))
t.train_step(real[first:first + b], c_real[first:first + b])
if t.rank == 0: torch.save(applied, out)
