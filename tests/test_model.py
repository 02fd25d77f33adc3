"""loss_and_grads against an independent plain-loop implementation and against finite
differences; the padding, type-aggregation and dtype contracts; the mistakes gradcheck exists
to catch."""

import numpy as np
import pytest

from postagger import gradcheck, layers, model
from tests import reference

SHAPES = [
    dict(bidirectional=False, layers=1, groups=0),
    dict(bidirectional=True, layers=1, groups=2),
    dict(bidirectional=False, layers=2, groups=1),
    dict(bidirectional=True, layers=2, groups=1),
]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("seed", [0, 1])
def test_loss_and_grads_match_the_plain_reference(shape, seed):
    # T >= 3, with H, V and K all different, and padding in the batch
    params, batch = gradcheck.random_problem(seq_len=6, batch=4, hidden=5, vocab=9, tags=4, seed=seed, **shape)
    assert batch["mask"].sum(axis=1).min() < 6
    loss, grads = model.loss_and_grads(params, **batch)
    ref_loss, ref_grads = reference.loss_and_grads(params, **batch)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    assert set(grads) == set(params)
    for name in params:
        assert grads[name].shape == params[name].shape, name
        np.testing.assert_allclose(grads[name], ref_grads[name], rtol=1e-9, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("shape", SHAPES)
def test_gradcheck_passes(shape):
    params, batch = gradcheck.random_problem(seq_len=5, batch=3, hidden=7, vocab=11, tags=5, **shape)
    report = gradcheck.check_gradients(params, batch)
    assert set(report) == set(params)
    assert max(report.values()) < 1e-6


def _backward_without_dh_next(dh, cache, padded=None):
    """The classic BPTT bug: each step's gradient never reaches the step before it. (padded:
    layers.rnn_backward's, where the gradient stops anyway.)"""
    h, Wh = cache
    dpre = dh * (1.0 - h * h)
    h_prev = h[:, :-1].reshape(h.shape[0], -1, h.shape[-1])
    dWh = np.matmul(h_prev.transpose(0, 2, 1), dpre[:, 1:].reshape(h.shape[0], -1, h.shape[-1]))
    return dpre, dWh


@pytest.fixture
def broken_rnn(monkeypatch):
    names, gates, forward, _ = model.CELLS["rnn"]
    monkeypatch.setitem(model.CELLS, "rnn", (names, gates, forward, _backward_without_dh_next))


@pytest.mark.parametrize("bidirectional", [False, True])
def test_gradcheck_fails_without_dh_next_for_t_of_two_or_more(broken_rnn, bidirectional):
    for seq_len in (2, 3, 5):
        params, batch = gradcheck.random_problem(seq_len=seq_len, batch=3, bidirectional=bidirectional)
        report = gradcheck.check_gradients(params, batch)
        assert max(report.values()) > 1e-3, seq_len  # at T=2 Whh is still right; Wxh and bh are not


def test_gradcheck_passes_without_dh_next_for_t_of_one(broken_rnn):
    params, batch = gradcheck.random_problem(seq_len=1, batch=3, bidirectional=True)
    assert max(gradcheck.check_gradients(params, batch).values()) < 1e-6


CLIPS = {  # at 5, train's --clip
    "global norm": lambda grads: {k: g * min(1.0, 5.0 / np.sqrt(sum((v * v).sum() for v in grads.values()))) for k, g in grads.items()},
    "each array's norm": lambda grads: {k: g * min(1.0, 5.0 / np.linalg.norm(g)) for k, g in grads.items()},
    "each entry": lambda grads: {k: np.clip(g, -5.0, 5.0) for k, g in grads.items()},
}


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("clip", CLIPS)
def test_gradcheck_catches_clipping_inside_the_loss_at_trains_threshold(cell, clip):
    """The default problems' gradients are smaller than 5, so only the check at steep output
    weights sees the clipping."""
    def clipped(params, **batch):
        loss, grads = model.loss_and_grads(params, **batch)
        return loss, CLIPS[clip](grads)

    params, batch = gradcheck.random_problem(cell=cell, bidirectional=True)  # clean, it passes: test_cells
    assert max(gradcheck.check_gradients(params, batch, clipped, loss=model.loss).values()) > 1e-2


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_the_loss_alone_is_loss_and_grads_loss(cell):
    """gradcheck differentiates model.loss, which skips the backward pass: it must be the very
    loss that loss_and_grads returns, bit for bit."""
    for shape in (dict(bidirectional=True), dict(layers=2, seq_len=4, groups=2), dict(groups=0)):
        params, batch = gradcheck.random_problem(cell=cell, **shape)
        params["Why"] = params["Why"] * 300.0
        assert model.loss(params, **batch) == model.loss_and_grads(params, **batch)[0]


def test_gradcheck_differentiates_loss_and_grads_own_loss_when_the_loss_given_disagrees():
    params, batch = gradcheck.random_problem(bidirectional=True)

    def doubled(params, **batch):
        return 2.0 * model.loss(params, **batch)

    assert max(gradcheck.check_gradients(params, batch, loss=doubled).values()) < 1e-6
    halved = {k: v / 2 for k, v in model.loss_and_grads(params, **batch)[1].items()}
    errors = gradcheck.check_gradients(params, batch, lambda p, **b: (model.loss(p, **b), halved), loss=model.loss)
    assert min(errors.values()) > 0.3  # model.loss agrees at the weights drawn: its differences are the truth


def test_gradcheck_catches_a_backward_that_uses_the_previous_calls_forward():
    """A model object keeping its last forward's cache, whose backward ran on the one before."""
    previous = {}

    def stale_backward(params, **batch):
        loss, grads = model.loss_and_grads(params, **batch)
        kept, previous["grads"] = previous.get("grads", grads), grads
        return loss, kept

    params, batch = gradcheck.random_problem()
    assert max(gradcheck.check_gradients(params, batch, stale_backward).values()) > 1e-2


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_padding_leaking_alike_in_forward_and_backward_passes_the_gradients_but_not_the_loss(cell):
    """A network that reads the padding as real input (it ignores the mask) has gradients true
    to its own loss: only comparing that loss with the sentences' losses alone catches it."""
    def mask_ignored(params, words, tags, mask, features=None):
        loss, grads = model.loss_and_grads(params, words, tags, np.ones_like(mask), features)
        return loss, grads

    def its_loss(params, words, tags, mask, features=None):
        return model.loss(params, words, tags, np.ones_like(mask), features)

    params, batch = gradcheck.random_problem(cell=cell, bidirectional=True)
    assert batch["mask"].min() == 0  # the batch holds padding
    assert max(gradcheck.check_gradients(params, batch, mask_ignored, loss=its_loss).values()) < 1e-6
    assert gradcheck.padding_error(params, batch, mask_ignored) > 1e-5  # gradcheck fails past 1e-6
    assert gradcheck.padding_error(params, batch) < 1e-12
    assert gradcheck.padding_error(params, batch, lambda *args, **kwargs: (float("nan"), {})) == 1.0  # never a pass


def test_gradcheck_refuses_a_hidden_size_of_one():
    """Whh would be 1 x 1, its own transpose."""
    assert "H must be 2 or more" in gradcheck.hiding_sizes(seq_len=5, batch=6, hidden=1, vocab=3, tags=4, groups=1,
                                                            bidirectional=True, cell="rnn")


def test_a_gradient_of_another_shape_fails_its_parameter_without_a_crash():
    def reshaped(params, **batch):
        loss, grads = model.loss_and_grads(params, **batch)
        return loss, {**grads, "by": grads["by"][None, :], "Whh": grads["Whh"][:, :-1]}

    params, batch = gradcheck.random_problem()
    report = gradcheck.check_gradients(params, batch, reshaped)
    assert report["by"] == report["Whh"] == 1.0 and report["bh"] < 1e-6


def test_gradcheck_catches_a_stale_forward_cache():
    params, batch = gradcheck.random_problem()
    stale = model.loss_and_grads({k: v.copy() for k, v in params.items()}, **batch)

    def cached(params, **batch):
        return stale

    assert max(gradcheck.check_gradients(params, batch, cached).values()) > 1e-2


def test_gradcheck_fails_a_gradient_that_is_nan_only_where_the_weights_are_steep():
    """max(1e-8, nan) is 1e-8 in Python: a NaN in the second (steep) pass passed."""
    def overflowing(params, **batch):
        loss, grads = model.loss_and_grads(params, **batch)
        steep = np.abs(params["Why"]).max() > 20
        return loss, {k: np.full_like(g, np.nan) if steep else g for k, g in grads.items()}

    params, batch = gradcheck.random_problem()
    assert min(gradcheck.check_gradients(params, batch, overflowing).values()) == 1.0


def test_gradcheck_fails_a_wrong_bias_gradient_alone():
    def halved(params, **batch):
        loss, grads = model.loss_and_grads(params, **batch)
        return loss, {**grads, "bh": grads["bh"] / 2}

    params, batch = gradcheck.random_problem()
    report = gradcheck.check_gradients(params, batch, halved)
    assert report["bh"] > 1e-2 and max(v for k, v in report.items() if k != "bh") < 1e-6


def test_the_stale_cache_trap_catches_a_backward_that_keeps_the_first_calls_forward(monkeypatch):
    """Without the steep pass: the trap call alone (at other weights, before the analytic
    gradients are taken) must expose a loss function that reuses its first call's forward."""
    first = {}

    def keeps_first(params, **batch):
        if "grads" not in first:
            first["grads"] = model.loss_and_grads(params, **batch)[1]
        return model.loss_and_grads(params, **batch)[0], first["grads"]

    monkeypatch.setattr(gradcheck, "STEEP", 1.0)  # the steep pass then repeats the first
    params, batch = gradcheck.random_problem()
    assert max(gradcheck.check_gradients(params, batch, keeps_first).values()) > 1e-2


@pytest.mark.parametrize("layers", [1, 2])
def test_dropout_gradients_match_finite_differences_with_the_same_masks(layers):
    """Dropout's backward must reuse its forward's masks: each call draws them from a fresh
    generator of one seed, so the loss is a fixed function for the finite differences."""
    def with_dropout(params, **batch):
        return model.loss_and_grads(params, **batch, dropout=0.3, rng=np.random.default_rng(5))

    params, batch = gradcheck.random_problem(layers=layers)
    assert max(gradcheck.check_gradients(params, batch, with_dropout).values()) < 1e-6

    def mask_not_reused(params, **batch):  # the gradient of another draw of masks
        loss = with_dropout(params, **batch)[0]
        return loss, model.loss_and_grads(params, **batch, dropout=0.3, rng=np.random.default_rng(6))[1]

    assert max(gradcheck.check_gradients(params, batch, mask_not_reused).values()) > 1e-2


def test_gradcheck_catches_a_transposed_recurrent_gradient():
    def transposed(params, **batch):
        loss, grads = model.loss_and_grads(params, **batch)
        return loss, {**grads, "Whh": grads["Whh"].T}

    params, batch = gradcheck.random_problem(hidden=7)
    assert gradcheck.check_gradients(params, batch, transposed)["Whh"] > 1e-2


def test_rel_error_uses_magnitudes_not_their_sum():
    a, b = np.array([1e-3]), np.array([-1e-3])
    assert gradcheck.rel_error(a, b)[0] == pytest.approx(1.0)  # |a+b| would divide by zero
    assert gradcheck.rel_error(np.array([0.0]), np.array([0.0]))[0] == 0.0


def test_numerical_grad_restores_every_entry():
    x = np.random.default_rng(0).normal(size=(3, 4))
    before = x.copy()
    gradcheck.numerical_grad(lambda: float((x**3).sum()), x)
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_padding_does_not_change_loss_or_gradients(cell):
    params, batch = gradcheck.random_problem(seq_len=4, batch=3, bidirectional=True, layers=2, cell=cell)
    pad = lambda a: np.concatenate([a, np.zeros((a.shape[0], 3), dtype=a.dtype)], axis=1)
    padded = {"words": pad(batch["words"]), "tags": pad(batch["tags"]), "mask": pad(batch["mask"]),
              "features": {g: pad(v) for g, v in batch["features"].items()}}
    loss, grads = model.loss_and_grads(params, **batch)
    loss_p, grads_p = model.loss_and_grads(params, **padded)
    assert loss_p == pytest.approx(loss, rel=1e-12)
    for name in params:
        np.testing.assert_allclose(grads_p[name], grads[name], rtol=1e-10, atol=1e-14)


def test_the_gradient_stops_at_the_right_to_left_lanes_padding():
    """A sentence of 300 tokens beside one of 2: in float32, with recurrent weights of norm 1.5,
    the short one's right-to-left lane is padded for 298 steps, where its state is 0 and tanh' is
    1. Carried through them, its gradient grew 1.5x a step, overflowed and made dWh NaN; it must
    stop there, leaving each weight's gradient the token-weighted mean of the two sentences'."""
    params, _ = gradcheck.random_problem(seq_len=3, batch=2, bidirectional=True, vocab=11, groups=0)
    params = {k: v.astype(np.float32) for k, v in params.items()}
    for key in ("Whh", "Whh_b"):
        params[key] = 1.5 * np.linalg.qr(np.random.default_rng(1).normal(size=params[key].shape))[0].astype(np.float32)
    rng = np.random.default_rng(2)
    lengths = (300, 2)
    words = np.zeros((2, 300), dtype=np.int64)
    tags = np.zeros((2, 300), dtype=np.int64)
    mask = (np.arange(300)[None, :] < np.array(lengths)[:, None]).astype(np.int64)
    for row, n in enumerate(lengths):
        words[row, :n], tags[row, :n] = rng.integers(1, 11, n), rng.integers(0, 6, n)
    _, grads = model.loss_and_grads(params, words, tags, mask)
    alone = [model.loss_and_grads(params, words[r : r + 1, :n], tags[r : r + 1, :n], mask[r : r + 1, :n])[1]
             for r, n in enumerate(lengths)]
    for name in params:
        assert np.isfinite(grads[name]).all(), name
        expected = (lengths[0] * alone[0][name] + lengths[1] * alone[1][name]) / sum(lengths)
        np.testing.assert_allclose(grads[name], expected, rtol=1e-3, atol=1e-6, err_msg=name)


def test_architecture_is_read_from_the_keys():
    params, _ = gradcheck.random_problem(bidirectional=True, layers=2, groups=2)
    arch = model.architecture(params)
    assert (arch.cell, arch.directions, arch.layers, arch.groups) == ("rnn", 2, 2, ("word", "g1", "g2"))
    params, _ = gradcheck.random_problem(bidirectional=False)
    assert model.architecture(params).directions == 1
    with pytest.raises(ValueError, match="missing"):
        model.architecture({k: v for k, v in params.items() if k != "by"})


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_loss_and_grads_keep_the_dtype(dtype):
    params, batch = gradcheck.random_problem(bidirectional=True)
    params = {k: v.astype(dtype) for k, v in params.items()}
    loss, grads = model.loss_and_grads(params, **batch)
    assert np.isfinite(loss)
    assert all(g.dtype == dtype for g in grads.values())
    ref_loss, _ = model.loss_and_grads({k: v.astype(np.float64) for k, v in params.items()}, **batch)
    assert loss == pytest.approx(ref_loss, rel=1e-5)


def test_type_batches_give_the_same_loss_and_gradients():
    """The training path sums each word type's input rows once; it must equal per-token input."""
    rng = np.random.default_rng(7)
    params, batch = gradcheck.random_problem(seq_len=6, batch=4, bidirectional=True, groups=2, vocab=5)
    # group ids must be a function of the word, as they are for real words
    feature_of_word = {g: rng.integers(1, params[f"Wxh_{g}"].shape[0], size=5) for g in batch["features"]}
    batch["features"] = {g: table[batch["words"]] * batch["mask"] for g, table in feature_of_word.items()}
    loss, grads = model.loss_and_grads(params, **batch)
    types, tokens = np.unique(batch["words"], return_inverse=True)
    inputs = {"word": types, **{g: table[types] for g, table in feature_of_word.items()}}
    loss_t, grads_t = model.batch_loss_and_grads(params, inputs, tokens.reshape(batch["words"].shape), batch["tags"], batch["mask"])
    assert loss_t == pytest.approx(loss, rel=1e-12)
    for name, g in grads_t.items():
        dense = g.to_dense(params[name].shape) if isinstance(g, layers.RowGrad) else g
        np.testing.assert_allclose(dense, grads[name], rtol=1e-10, atol=1e-14, err_msg=name)


@pytest.mark.parametrize("chunk", [1, 3, 256])
def test_input_preactivations_sum_one_row_per_group_plus_bias(chunk):
    """Chunked sums (chunk=3 splits 10 types unevenly) against one-hot products, per lane."""
    params, _ = gradcheck.random_problem(bidirectional=True, groups=2, vocab=6)
    arch = model.architecture(params)
    rng = np.random.default_rng(0)
    inputs = {g: rng.integers(0, len(params[arch.input_key(g)]), size=10) for g in arch.groups}
    out = model.input_preactivations(params, arch, inputs, chunk=chunk)
    assert out.shape == (2, 10, arch.hidden)
    for d in range(2):
        lane = slice(d * arch.hidden, (d + 1) * arch.hidden)
        expected = params[arch.layer_keys(1, d)[2]] + sum(
            np.eye(len(params[arch.input_key(g)]))[inputs[g]] @ params[arch.input_key(g)][:, lane] for g in arch.groups
        )
        np.testing.assert_allclose(out[d], expected, rtol=1e-12)
        np.testing.assert_array_equal(model.input_preactivations(params, arch, inputs, chunk=chunk, lane=d), out[d : d + 1])


def test_packing_orders_rows_by_step_and_each_lane_by_its_direction():
    counts, order = model.packing(np.array([3, 2]))  # tokens end to end: a0 a1 a2 b0 b1
    assert counts.tolist() == [2, 2, 1]
    assert order[0].tolist() == [0, 3, 1, 4, 2]  # step 0: a0 b0, step 1: a1 b1, step 2: a2
    assert order[1].tolist() == [2, 4, 1, 3, 0]  # right to left: a2 b1, a1 b0, a0


def test_packing_matches_a_loop_over_steps_and_sentences():
    lengths = np.sort(np.random.default_rng(0).integers(1, 9, 40))[::-1]  # ties, and sentences of length 1
    starts = np.cumsum(lengths) - lengths
    running = [[i for i, n in enumerate(lengths) if n > t] for t in range(lengths[0])]
    counts, order = model.packing(lengths)
    assert counts.tolist() == [len(r) for r in running]
    assert order[0].tolist() == [starts[i] + t for t, r in enumerate(running) for i in r]
    assert order[1].tolist() == [starts[i] + lengths[i] - 1 - t for t, r in enumerate(running) for i in r]


@pytest.mark.parametrize("bidirectional,layers", [(True, 1), (False, 1), (True, 2)])
def test_packed_scores_equal_padded_scores(bidirectional, layers):
    params, batch = gradcheck.random_problem(seq_len=6, batch=5, tags=5, bidirectional=bidirectional, layers=layers, groups=2, seed=3)
    lengths = batch["mask"].sum(axis=1)
    assert len(set(lengths.tolist())) > 2
    N, T = batch["mask"].shape
    arch = model.architecture(params)
    inputs = {"word": batch["words"].reshape(-1), **{g: ids.reshape(-1) for g, ids in batch["features"].items()}}
    by_position = model.input_preactivations(params, arch, inputs)  # (D, N*T, H): every position its own row
    padded = model.predict_scores(params, inputs, np.arange(N * T).reshape(N, T), batch["mask"])  # (N, T, K)
    longest_first = np.argsort(-lengths, kind="stable")
    rows = np.concatenate([i * T + np.arange(lengths[i]) for i in longest_first])
    packed, row_of_token = model.predict_packed(params, by_position, rows, lengths[longest_first], skip=2)
    expected = np.concatenate([padded[i, : lengths[i]] for i in longest_first])
    K = expected.shape[1]
    np.testing.assert_allclose(packed[row_of_token, 2:K], expected[:, 2:], rtol=1e-10, atol=1e-12)
    assert np.all(packed[:, :2] == -np.inf) and np.all(packed[:, K:] == -np.inf)


def test_init_is_deterministic_and_shaped():
    cfg = model.RNNConfig(input_sizes={"word": 13, "suf3": 7}, n_tags=6, hidden=4, layers=2)
    a = model.init_params(cfg, np.random.default_rng(3))
    b = model.init_params(cfg, np.random.default_rng(3))
    assert a.keys() == b.keys()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert a["Wxh"].shape == (13, 8) and a["Wxh_suf3"].shape == (7, 8) and "Wxh_suf3_b" not in a
    assert a["Whh"].shape == (4, 4) and a["Wxh2"].shape == (8, 4) and a["Why"].shape == (8, 6)
    assert all(v.dtype == np.float32 for v in a.values())
