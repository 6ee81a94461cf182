"""Bad inputs to the robust sampler (`wysiwyg.sampler`): each must raise a `ValueError` that says what is wrong,
before any sample is drawn; plus the edge cases that must keep working (one bin, tau = 1, float64, leading dims)."""

import pytest
import torch

from wysiwyg.sampler import adaptive_budget, robust_depths, top_p_mask

K = 191
EDGES = torch.linspace(2.25, 3.3, K + 1)


def good_pdf(B=2, R=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(3 * torch.randn(B, R, K, generator=g), -1)


def with_value(value, at=(1, 3, 17)):
    p = good_pdf()
    p[at] = value
    return p


BAD_PDFS = [
    ('nan', with_value(float('nan')), 'NaN'),
    ('inf', with_value(float('inf')), 'inf'),
    ('negative', with_value(-1e-3), 'negative'),
    ('logits', torch.randn(2, 5, K), 'negative'),                       # logits passed instead of probabilities
    ('all-zero ray', good_pdf().index_fill(1, torch.tensor([2]), 0.0), 'all-zero'),
    ('all-zero', torch.zeros(2, 5, K), 'all-zero'),
    ('integer', torch.ones(2, 5, K, dtype=torch.long), 'floating-point'),
    ('empty', torch.zeros(0, 5, K), 'at least one ray'),
    ('not a tensor', [[0.5, 0.5]], 'torch tensor'),
]


@pytest.mark.parametrize('name, pdf, message', BAD_PDFS, ids=[b[0] for b in BAD_PDFS])
@pytest.mark.parametrize('fn', ['top_p_mask', 'robust_depths', 'adaptive_budget'])
def test_bad_pdf(fn, name, pdf, message):
    call = dict(top_p_mask=lambda p: top_p_mask(p),
                robust_depths=lambda p: robust_depths(p, EDGES, 16),
                adaptive_budget=lambda p: adaptive_budget(p))[fn]
    with pytest.raises(ValueError, match=message):
        call(pdf)


def test_bad_pdf_message_locates_the_problem():
    with pytest.raises(ValueError) as e:
        robust_depths(with_value(float('nan'), at=(1, 3, 17)), EDGES, 16)
    assert 'NaN' in str(e.value) and '(1, 3, 17)' in str(e.value) and '1 of 1910 values' in str(e.value)
    p = good_pdf(); p[0, 4] = 0
    with pytest.raises(ValueError) as e:
        robust_depths(p, EDGES, 16)
    assert 'all-zero on 1 of 10 rays' in str(e.value) and '(0, 4)' in str(e.value)


@pytest.mark.parametrize('tau', [0, 0.0, -0.5, 1.0001, 2, float('nan'), float('inf'), 'high', None])
def test_bad_tau(tau):
    with pytest.raises(ValueError, match='tau'):
        robust_depths(good_pdf(), EDGES, 16, tau=tau)
    with pytest.raises(ValueError, match='tau'):
        top_p_mask(good_pdf(), tau=tau)


@pytest.mark.parametrize('tau', [1e-6, 0.5, 0.98, 1, 1.0])
def test_good_tau(tau):
    t, w = robust_depths(good_pdf(), EDGES, 16, tau=tau)
    assert t.shape == w.shape == (2, 5, 16)


@pytest.mark.parametrize('n', [0, -1, 2.5, 16.0, '16', None, True, False])
def test_bad_n_samples(n):
    with pytest.raises(ValueError, match='n_samples must be an integer >= 1'):
        robust_depths(good_pdf(), EDGES, n)


def test_n_samples_accepts_integer_like():
    import numpy as np
    assert robust_depths(good_pdf(), EDGES, np.int64(3))[0].shape == (2, 5, 3)
    assert robust_depths(good_pdf(), EDGES, torch.tensor(2))[0].shape == (2, 5, 2)


@pytest.mark.parametrize('edges, message', [
    (EDGES[:-1], 'K \\+ 1 = 192'),                                       # one edge short
    (torch.linspace(2.25, 3.3, K + 2), 'K \\+ 1 = 192'),
    (torch.tensor(2.5), 'K \\+ 1'),
    (EDGES.expand(3, 5, K + 1), 'one row per ray'),                      # wrong batch
    (EDGES.expand(2, 4, K + 1), 'one row per ray'),
    (EDGES.flip(0), 'non-decreasing'),
    (torch.cat([EDGES[:10], torch.tensor([float('nan')]), EDGES[11:]]), 'finite'),
])
def test_bad_edges(edges, message):
    with pytest.raises(ValueError, match=message):
        robust_depths(good_pdf(), edges, 16)


def test_pdf_with_wrong_number_of_bins():
    with pytest.raises(ValueError, match='K = 190'):
        robust_depths(good_pdf()[..., :190], EDGES, 16)


@pytest.mark.parametrize('kwargs, message', [
    (dict(base=0), 'base'), (dict(base=-16), 'base'), (dict(base=1.5), 'base'),
    (dict(hard_fraction=-0.01), 'hard_fraction'), (dict(hard_fraction=1.01), 'hard_fraction'),
    (dict(hard_fraction=float('nan')), 'hard_fraction'), (dict(hard_fraction='a lot'), 'hard_fraction'),
])
def test_bad_budget_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        adaptive_budget(good_pdf(), **kwargs)


def test_budget_needs_rays_of_an_image():
    with pytest.raises(ValueError, match=r'\(\.\.\., R, K\)'):
        adaptive_budget(torch.full((K,), 1.0 / K))


def test_errors_come_before_any_work_on_valid_rays():
    "One bad ray fails the whole call: no partial samples for the others."
    p = good_pdf(1, 16384)
    p[0, -1, -1] = float('nan')
    with pytest.raises(ValueError, match='NaN'):
        robust_depths(p, EDGES, 16)


# edge cases that must keep working

def test_one_bin_and_unnormalised_pdfs():
    t, w = robust_depths(torch.tensor([[[3.0]]]), torch.tensor([1.0, 2.0]), 4, generator=torch.Generator().manual_seed(0))
    assert ((t >= 1) & (t <= 2)).all() and torch.allclose(((t - 1) * 4).floor(), torch.arange(4.0))
    p = good_pdf()
    torch.testing.assert_close(top_p_mask(p * 1e-20), top_p_mask(p))   # only the shape of the PDF matters


def test_zero_width_bins_are_allowed():
    edges = EDGES.clone(); edges[50:60] = edges[50]                       # ten empty bins (a clipped range)
    t, w = robust_depths(good_pdf(), edges, 16)
    assert torch.isfinite(t).all() and (w >= 0).all() and (t.diff(dim=-1) >= 0).all()


@pytest.mark.parametrize('filter', [True, False])
@pytest.mark.parametrize('stratify', [True, False])
def test_outputs_sorted_inside_range_and_clipped(filter, stratify):
    t, w = robust_depths(good_pdf(4, 64), EDGES, 24, filter=filter, stratify=stratify)
    h = (3.3 - 2.25) / K
    assert (t.diff(dim=-1) >= 0).all()
    assert ((t >= 2.25) & (t <= 3.3)).all()
    assert ((w >= 0) & (w <= h + 1e-6)).all()


def test_device_and_dtype_follow_the_input():
    p = good_pdf().double()
    t, w = robust_depths(p, EDGES, 8)
    assert t.dtype == w.dtype == torch.float64 and t.device == p.device
    if torch.cuda.is_available():
        t, w = robust_depths(good_pdf().cuda(), EDGES, 8, generator=torch.Generator('cuda').manual_seed(0))
        assert t.is_cuda and w.is_cuda
        assert adaptive_budget(good_pdf().cuda()).is_cuda and top_p_mask(good_pdf().cuda()).is_cuda
