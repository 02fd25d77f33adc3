"""LSTM and GRU: each backward against finite differences, the whole network against the plain
reference, gradcheck, padding, initialisation, and a long-range task only gated cells learn."""

import numpy as np
import pytest
from typer.testing import CliRunner

from postagger import gradcheck, layers, model
from postagger.cli import app
from postagger.gradcheck import numerical_grad, rel_error
from postagger.tagger import RNNTagger
from postagger.train import TrainConfig
from tests import reference

CELLS = {"lstm": (layers.lstm_forward, layers.lstm_backward, 4), "gru": (layers.gru_forward, layers.gru_backward, 3)}


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("D", [1, 2])
def test_cell_backward_matches_finite_differences(cell, D):
    forward, backward, gates = CELLS[cell]
    rng = np.random.default_rng(3)
    T, N, H = 5, 3, 4
    x = rng.normal(size=(D, T, N, gates * H))
    Wh = rng.normal(scale=0.5, size=(D, H, gates * H))
    dh = rng.normal(size=(D, T, N, H))
    _, cache = forward(x, Wh)
    dx, dWh = backward(dh, cache)

    def f():
        return float((forward(x, Wh)[0] * dh).sum())

    assert rel_error(dx, numerical_grad(f, x)).max() < 1e-6
    assert rel_error(dWh, numerical_grad(f, Wh)).max() < 1e-6


@pytest.mark.parametrize("cell", CELLS)
def test_zero_input_keeps_a_zero_state(cell):
    forward, _, gates = CELLS[cell]
    rng = np.random.default_rng(0)
    x = np.zeros((1, 4, 2, gates * 3))
    h, _ = forward(x, rng.normal(size=(1, 3, gates * 3)))
    assert np.all(h == 0)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("shape", [dict(bidirectional=False, layers=1, groups=1), dict(bidirectional=True, layers=1, groups=2),
                                   dict(bidirectional=True, layers=2, groups=1), dict(bidirectional=False, layers=2, groups=0)])
@pytest.mark.parametrize("steep", [1.0, 300.0])
def test_loss_and_grads_match_the_plain_reference(cell, shape, steep):
    """steep: output weights scaled so that gradients are far above any clipping threshold,
    which a gradient clipped inside the loss would not match."""
    params, batch = gradcheck.random_problem(seq_len=6, batch=4, hidden=5, vocab=9, tags=4, cell=cell, seed=1, **shape)
    params["Why"] *= steep
    loss, grads = model.loss_and_grads(params, **batch)
    ref_loss, ref_grads = reference.loss_and_grads(params, **batch)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    for name in params:
        np.testing.assert_allclose(grads[name], ref_grads[name], rtol=1e-9, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_gradcheck_passes(cell, bidirectional):
    params, batch = gradcheck.random_problem(seq_len=5, batch=3, cell=cell, bidirectional=bidirectional)
    assert model.architecture(params).cell == cell
    assert max(gradcheck.check_gradients(params, batch).values()) < 1e-6


def test_names_shapes_and_forget_bias():
    cfg = model.RNNConfig(input_sizes={"word": 10, "suf2": 6}, n_tags=5, hidden=4, layers=2, cell="lstm")
    params = model.init_params(cfg, np.random.default_rng(0))
    assert params["Wx"].shape == (10, 32) and params["Wh"].shape == (4, 16) and params["b"].shape == (16,)
    assert params["Wx_suf2"].shape == (6, 32) and params["Wx2"].shape == (8, 16)  # tables: both directions
    for b in ("b", "b_b", "b2", "b2_b"):
        np.testing.assert_array_equal(params[b][4:8], 1.0)  # gates [i, f, g, o]
        assert np.all(params[b][:4] == 0) and np.all(params[b][8:] == 0)
    gru = model.init_params(model.RNNConfig({"word": 10}, 5, hidden=4, cell="gru"), np.random.default_rng(0))
    assert gru["Wh"].shape == (4, 12) and model.architecture(gru).cell == "gru"
    np.testing.assert_array_equal(gru["b"], np.r_[np.zeros(4), np.ones(4), np.zeros(4)])  # update gate z


def long_range_corpus(n, seed, gap=30):
    """The last token's tag is the first word (A or B), gap - 1 filler words earlier."""
    rng = np.random.default_rng(seed)
    fillers = [f"w{i}" for i in range(8)]
    sents = []
    for _ in range(n):
        first = "A" if rng.random() < 0.5 else "B"
        middle = [(str(w), "F") for w in rng.choice(fillers, gap - 1)]
        sents.append([(first, "F"), *middle, ("end", first)])
    return sents


def last_step_accuracy(tagger, sents):
    predicted = tagger.tag_sents([[w for w, _ in s] for s in sents])
    return np.mean([p[-1][1] == s[-1][1] for p, s in zip(predicted, sents)])


def test_gated_cells_learn_a_30_step_dependency_the_plain_rnn_does_not():
    # Over seeds 0-5 with these settings, measured: LSTM 6/6 and GRU 5/6 reach 100 %, the RNN 0/6
    # beats 52 % (scratch sweep in the cells commit message).
    train, test = long_range_corpus(2000, 0), long_range_corpus(200, 1)
    scores = {}
    for cell in ("rnn", "lstm", "gru"):
        cfg = TrainConfig(cell=cell, bidirectional=False, hidden=32, features=(), word_dropout=0.0, epochs=15,
                          batch_size=32, lr=0.01, lr_decay=1.0, seed=1)
        scores[cell] = last_step_accuracy(RNNTagger(cfg).fit(train), test)
    assert scores["lstm"] > 0.95 and scores["gru"] > 0.95, scores
    assert scores["rnn"] < 0.7, scores


@pytest.mark.parametrize("flags", [["--cell", "lstm"], ["--cell", "gru", "--bidirectional"], ["--cell", "lstm", "--layers", "2", "--seq-len", "4"]])
def test_gradcheck_command(flags):
    result = CliRunner().invoke(app, ["gradcheck", *flags])
    assert result.exit_code == 0, result.output
    assert "passed" in result.stdout


def test_saved_lstm_model_reloads_and_tags_identically(tmp_path, tiny):
    tagger = RNNTagger(TrainConfig(cell="gru", hidden=8, epochs=1, features=("suf2",))).fit(tiny)
    tagger.save(tmp_path / "m")
    loaded = RNNTagger.load(tmp_path / "m")
    assert model.architecture(loaded.params_).cell == "gru" and loaded.config.cell == "gru"
    sents = [[w for w, _ in s] for s in tiny[:20]]
    for (a, pa), (b, pb) in zip(tagger.predict_ids(sents), loaded.predict_ids(sents)):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(pa, pb)
    assert loaded.tag_sents(sents) == [loaded.tag(s) for s in sents]  # padded batches, as gated cells tag
