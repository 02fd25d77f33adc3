"""RNNTagger: fit, tag, save and load, determinism, batching."""

import json
import os
import threading
import zipfile

import numpy as np
import pytest

from postagger import model
from postagger import tagger as tagger_module
from postagger.errors import ModelError
from postagger.tagger import RNNTagger
from postagger.train import TrainConfig
from tests.conftest import tiny_corpus

SMALL = dict(hidden=16, epochs=4, batch_size=8, features=("lower", "suf2", "shape"))


@pytest.fixture(scope="module")
def trained():
    corpus = tiny_corpus(160)
    return RNNTagger(TrainConfig(**SMALL, seed=1)).fit(corpus[:140], corpus[140:])


def test_fit_learns_the_grammar(trained):
    corpus = tiny_corpus(60, seed=9)
    pred = trained.tag_sents([[w for w, _ in s] for s in corpus])
    gold = [t for s in corpus for _, t in s]
    accuracy = np.mean([t == g for (_, t), g in zip([x for s in pred for x in s], gold)])
    assert accuracy > 0.9
    assert trained.dev_accuracy_ > 0.9
    assert [r.epoch for r in trained.history_] == [1, 2, 3, 4]


def test_dense_adam_learns_as_well_as_lazy_rowwise_adam(trained):
    corpus = tiny_corpus(160)
    dense = RNNTagger(TrainConfig(**SMALL, seed=1, sparse_updates=False, rowwise_adam=False)).fit(corpus[:140], corpus[140:])
    assert dense.dev_accuracy_ > 0.9 and abs(dense.dev_accuracy_ - trained.dev_accuracy_) < 0.05
    assert not np.array_equal(dense.params_["Wxh"], trained.params_["Wxh"])  # another update rule


def test_fit_returns_self_and_sets_learned_attributes():
    tagger = RNNTagger(TrainConfig(**{**SMALL, "epochs": 1}))
    assert not hasattr(tagger, "params_")
    assert tagger.fit(tiny_corpus(20)) is tagger
    assert set(tagger.vocabs_) == {"word", "lower", "suf2", "shape"}
    assert tagger.tags_.itos[:2] == ["<pad>", "<unk>"]
    assert sorted(tagger.classes_) == sorted({tag for s in tiny_corpus(20) for _, tag in s})


SPECIAL_TAG_NAMES = ("<pad>", "<unk>")  # head the tag vocabulary; never predicted


def _training_forward_scores(tagger, sents) -> list[np.ndarray]:
    """Per sentence, the tag scores (L, K) of every tag, special ones included, through the
    padded training forward (not the packed tagging path), in float64."""
    from postagger import model
    from postagger.encoding import encode_corpus, make_batch

    corpus = encode_corpus(tagger.encoder_, sents)
    batch = make_batch(corpus, np.arange(len(sents)))
    scores = model.predict_scores(tagger.params_, batch.inputs, batch.tokens, batch.mask).astype(np.float64)
    return [scores[row, : len(s)] for row, s in enumerate(sents)]


def _real_tag_columns(tagger) -> np.ndarray:
    """The tag ids a tagger may predict: all but the special tags, found by name."""
    return np.array([i for i, t in enumerate(tagger.tags_.itos) if t not in SPECIAL_TAG_NAMES])


def test_tag_returns_word_tag_pairs_and_never_special_tags(trained, tmp_path):
    out = trained.tag(["The", "quiet", "zorbification", "sees", "a", "tree", "."])
    assert [w for w, _ in out] == ["The", "quiet", "zorbification", "sees", "a", "tree", "."]
    assert all(t not in SPECIAL_TAG_NAMES for _, t in out)
    assert trained.tag([]) == []
    # A trained model never prefers <pad> or <unk>: bias them so that they win every unmasked
    # arg max, and tagging must still pick the best real tag.
    sents = [[w for w, _ in s] for s in tiny_corpus(15, seed=12)] + [["Zyx", "quiet", "zorbification", "."]]
    real = _real_tag_columns(trained)
    special = np.setdiff1d(np.arange(len(trained.tags_)), real)
    assert trained.tags_.decode(special) == list(SPECIAL_TAG_NAMES)
    scores = np.concatenate(_training_forward_scores(trained, sents))
    boost = scores[:, real].max() - scores[:, special].min() + 5.0

    def raise_special_biases(params):
        params["by"][special] += boost

    _save_with_weights(trained, tmp_path / "m", raise_special_biases)
    biased = RNNTagger.load(tmp_path / "m")
    biased_scores = _training_forward_scores(biased, sents)
    assert all(np.isin(s.argmax(axis=-1), special).all() for s in biased_scores)  # unmasked, specials would win
    expected = [real[s[:, real].argmax(axis=-1)] for s in biased_scores]
    for (ids, _), best in zip(biased.predict_ids(sents), expected):
        np.testing.assert_array_equal(ids, best)
    assert biased.tag_sents(sents) == [list(zip(s, biased.tags_.decode(best))) for s, best in zip(sents, expected)]


def test_probabilities_are_the_softmax_of_the_chosen_tag_over_the_real_tags(trained):
    """predict_ids' probability of each chosen tag is its softmax over the tags the model may
    predict (<pad> and <unk> left out), as computed here from the training forward's scores."""
    sents = [[w for w, _ in s] for s in tiny_corpus(25, seed=13)] + [["Zyx", "quiet", "river", "."], ["idea"]]
    real = _real_tag_columns(trained)
    predicted = trained.predict_ids(sents)
    some_uncertain = False
    for (ids, probs), scores in zip(predicted, _training_forward_scores(trained, sents)):
        real_scores = scores[:, real]
        softmax = np.exp(real_scores - real_scores.max(axis=-1, keepdims=True))
        softmax /= softmax.sum(axis=-1, keepdims=True)
        best = real_scores.argmax(axis=-1)
        np.testing.assert_array_equal(ids, real[best])
        np.testing.assert_allclose(probs, softmax[np.arange(len(best)), best], rtol=0, atol=1e-5)
        some_uncertain |= bool((softmax.max(axis=-1) < 0.99).any())
    assert some_uncertain  # not only probabilities of 1, which a constant near 1 would match


def test_unseen_words_in_any_script_and_long_sentences(trained):
    words = ["Пушкин", "東京", "🙂", "naïve", "", "x" * 300]
    assert len(trained.tag(words)) == len(words)
    long = ["the", "cat", "sees", "a", "dog", "."] * 334  # 2,004 tokens
    assert len(trained.tag(long)) == len(long)


def test_batched_tagging_equals_one_sentence_at_a_time(trained):
    sents = [[w for w, _ in s] for s in tiny_corpus(80, seed=5)] + [[]]
    batched = trained.tag_sents(sents)
    assert batched == [trained.tag(s) for s in sents]
    assert trained.predict_ids(sents, batch_size=3)[0][0].tolist() == trained.predict_ids(sents)[0][0].tolist()


@pytest.mark.parametrize("layers", [1, 2])
def test_lanes_side_by_side_tag_as_one_thread_does(trained, layers, monkeypatch):
    """parallel tags a bidirectional Elman network's two lanes in two threads, from
    SIDE_BY_SIDE_ROWS sentences a batch: the same tag ids and probabilities, bit for bit."""
    tagger = trained if layers == 1 else RNNTagger(TrainConfig(**{**SMALL, "epochs": 1}, layers=2, seed=2)).fit(tiny_corpus(60))
    sents = [[w for w, _ in s] for s in tiny_corpus(150, seed=9)]
    threads = []
    side_by_side = tagger_module._side_by_side
    monkeypatch.setattr(tagger_module, "_side_by_side",
                        lambda run, lanes: side_by_side(lambda lane: threads.append(threading.current_thread()) or run(lane), lanes))
    monkeypatch.setattr(tagger, "parallel", False)
    alone = tagger.predict_ids(sents)
    assert threads == []
    monkeypatch.setattr(tagger, "parallel", True)
    together = tagger.predict_ids(sents)
    assert len(threads) == 2 * layers and len(set(threads)) == 2 and threading.current_thread() in threads
    for (ids, probs), (ids_together, probs_together) in zip(alone, together):
        np.testing.assert_array_equal(ids, ids_together)
        np.testing.assert_array_equal(probs, probs_together)
    threads.clear()
    tagger.predict_ids(sents[: model.SIDE_BY_SIDE_ROWS - 1])  # narrow steps: one thread
    assert threads == []


@pytest.mark.parametrize("layers", [1, 2])
def test_dev_accuracy_of_longest_first_batches_is_that_of_padded_ones(trained, layers, monkeypatch):
    """train.accuracy scores an Elman network in packed batches, its lanes side by side when
    given a runner: the share of right tags that padded batches give, with an empty sentence in
    the corpus and with batches split by tokens."""
    from postagger import train
    from postagger.encoding import encode_corpus, length_batches, make_batch
    from postagger.vocab import N_SPECIAL

    tagger = trained if layers == 1 else RNNTagger(TrainConfig(**{**SMALL, "epochs": 1}, layers=2, seed=2)).fit(tiny_corpus(60))
    rng = np.random.default_rng(4)  # weights moved off their training, so that many tags are wrong
    params = {k: v + rng.normal(0, 0.1, v.shape).astype(v.dtype) for k, v in tagger.params_.items()}
    sents = tiny_corpus(150, seed=11) + [[]]
    corpus = encode_corpus(tagger.encoder_, [[w for w, _ in s] for s in sents], [[t for _, t in s] for s in sents], tagger.tags_)
    right = 0
    for index in length_batches(corpus.lengths, 7):
        batch = make_batch(corpus, index)
        predicted = model.predict(params, batch.inputs, batch.tokens, batch.mask, skip=N_SPECIAL)
        right += int(((predicted == batch.tags) & (batch.mask == 1)).sum())
    expected = right / corpus.n_tokens
    assert 0.2 < expected < 0.95
    threads = []
    side_by_side = tagger_module._side_by_side
    spy = lambda run, lanes: side_by_side(lambda lane: threads.append(threading.current_thread()) or run(lane), lanes)  # noqa: E731
    assert train.accuracy(params, corpus) == expected
    assert train.accuracy(params, corpus, side_by_side=spy) == expected
    assert len(set(threads)) == 2
    monkeypatch.setattr(train, "PACKED_TOKENS", 40)  # many batches, each too narrow for two threads
    threads.clear()
    assert train.accuracy(params, corpus, side_by_side=spy) == expected
    assert threads == []


def test_fit_scores_dev_with_the_lanes_side_by_side(monkeypatch):
    """fit hands its lane runner to the dev scoring: with parallel, a dev set of
    SIDE_BY_SIDE_ROWS sentences or more is scored in two threads."""
    threads = []
    side_by_side = tagger_module._side_by_side
    monkeypatch.setattr(tagger_module, "_side_by_side",
                        lambda run, lanes: side_by_side(lambda lane: threads.append(threading.current_thread()) or run(lane), lanes))
    corpus = tiny_corpus(40 + model.SIDE_BY_SIDE_ROWS)
    RNNTagger(TrainConfig(**{**SMALL, "epochs": 1}), parallel=True).fit(corpus[:40], corpus[40:])
    assert len(set(threads)) == 2


def test_one_lane_one_core_or_more_blas_threads_tag_in_one_thread(trained, monkeypatch):
    from threadpoolctl import threadpool_limits

    forward_only = RNNTagger(TrainConfig(**{**SMALL, "epochs": 1}, bidirectional=False, seed=2)).fit(tiny_corpus(30))
    forward_only.parallel = True
    assert forward_only._lane_runner() is None
    monkeypatch.setattr(trained, "parallel", None)
    for cores, blas_threads, side_by_side in ((1, 1, None), (2, 1, tagger_module._side_by_side), (2, 2, None)):
        monkeypatch.setattr(tagger_module, "_cores", lambda: cores)
        with threadpool_limits(limits=blas_threads, user_api="blas"):
            assert trained._lane_runner() is side_by_side
    monkeypatch.setattr(trained, "parallel", True)  # asked for: whatever the BLAS threads
    with threadpool_limits(limits=2, user_api="blas"):
        assert trained._lane_runner() is tagger_module._side_by_side


def test_tagging_while_the_interpreter_shuts_down_and_interrupted_tagging(trained, tmp_path):
    """Tagging in an atexit handler (concurrent.futures' pools refuse work then), after
    KeyboardInterrupts at many moments of tag_sents, and the process's exit all work: the lane
    threads are daemons fed through queues that hold no lock an interrupt could leave taken."""
    import subprocess
    import sys

    trained.save(tmp_path / "model")
    script = f"""
import atexit
from postagger.tagger import RNNTagger
from tests.conftest import tiny_corpus
tagger = RNNTagger.load({str(tmp_path / "model")!r})
tagger.parallel = True
sents = [[w for w, _ in s] for s in tiny_corpus(150, seed=9)]
expected = tagger.tag_sents(sents)
import random, signal, time
started = time.perf_counter(); tagger.tag_sents(sents); took = time.perf_counter() - started
def interrupt(*_):
    raise KeyboardInterrupt
signal.signal(signal.SIGALRM, interrupt)
rng = random.Random(0)
for _ in range(300):
    try:  # the one alarm fires inside the try, or never
        signal.setitimer(signal.ITIMER_REAL, rng.uniform(1e-5, took))
        tagger.tag_sents(sents)
        signal.setitimer(signal.ITIMER_REAL, 0)
    except KeyboardInterrupt:
        pass
signal.signal(signal.SIGALRM, signal.SIG_DFL)
assert tagger.tag_sents(sents) == expected
atexit.register(lambda: print("same" if tagger.tag_sents(sents) == expected else "differ"))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert (done.returncode, done.stdout, done.stderr) == (0, "same\n", "")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_tags_side_by_side_with_lane_threads_of_its_own(trained, monkeypatch):
    """The lane threads are not copied by fork: a child that handed its lanes to the parent's
    would wait for them forever."""
    import time

    monkeypatch.setattr(trained, "parallel", True)
    sents = [[w for w, _ in s] for s in tiny_corpus(100, seed=4)]
    expected = trained.tag_sents(sents)  # the parent now has its lane threads
    assert tagger_module._lane_tasks is not None
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only if it tags as the parent did, with lane threads of its own
        ok = trained.tag_sents(sents) == expected and tagger_module._lane_tasks is not None
        os._exit(0 if ok else 1)
    deadline = time.monotonic() + 60
    while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    if done[0] == 0:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pytest.fail("the forked child hung on its parent's lane threads")
    assert os.waitstatus_to_exitcode(done[1]) == 0


def test_taggers_in_several_threads_tag_alike_and_leave_the_blas_threads_alone(trained, monkeypatch):
    from threadpoolctl import threadpool_info, threadpool_limits

    monkeypatch.setattr(trained, "parallel", True)
    sents = [[w for w, _ in s] for s in tiny_corpus(150, seed=12)]
    expected = trained.tag_sents(sents)
    results = []
    with threadpool_limits(limits=2, user_api="blas"):
        before = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
        callers = [threading.Thread(target=lambda: results.extend(trained.tag_sents(sents) for _ in range(5))) for _ in range(3)]
        for caller in callers:
            caller.start()
        for caller in callers:
            caller.join()
        assert [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"] == before
    assert len(results) == 15 and all(result == expected for result in results)


def test_one_tagger_shared_by_threads_meeting_new_words(trained, tmp_path):
    """Callers in several threads add new words to one tagger's encoder and cache one at a
    time: each gets the tags a tagger of its own gives, then and afterwards."""
    trained.save(tmp_path / "model")
    jobs = [[[w for w, _ in s] + [f"Zq{job}x{i}", f"vorp{job}{i}ing", "."] for i, s in enumerate(tiny_corpus(70, seed=20 + job))]
            for job in range(6)]
    alone = [RNNTagger.load(tmp_path / "model").tag_sents(job) for job in jobs]
    shared = RNNTagger.load(tmp_path / "model")
    results: dict[int, list] = {}
    callers = [threading.Thread(target=lambda j=j: results.setdefault(j, shared.tag_sents(jobs[j]))) for j in range(len(jobs))]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    assert [results[j] for j in range(len(jobs))] == alone
    assert [shared.tag_sents(job) for job in jobs] == alone


def test_an_error_in_the_second_lane_reaches_the_caller():
    done = []

    def run(lane):
        if lane:
            raise ZeroDivisionError("lane 1")
        done.append(lane)

    with pytest.raises(ZeroDivisionError, match="lane 1"):
        tagger_module._side_by_side(run, [0, 1])
    assert done == [0]


def test_longest_first_batches_are_split_by_tokens(trained, monkeypatch):
    sents = [[w for w, _ in s] for s in tiny_corpus(40, seed=6)]
    expected = trained.tag_sents(sents)
    sizes = []
    predict_packed = tagger_module.model.predict_packed
    monkeypatch.setattr(tagger_module.model, "predict_packed", lambda p, b, rows, lengths, **kw: sizes.append(len(rows)) or predict_packed(p, b, rows, lengths, **kw))
    monkeypatch.setattr(tagger_module, "PACKED_TOKENS", 30)
    assert trained.tag_sents(sents) == expected
    longest = max(map(len, sents))
    assert len(sizes) > 1 and max(sizes) <= max(30, longest)
    assert sum(sizes) == sum(map(len, sents))


def test_probabilities_are_computed_only_when_asked(trained):
    sents = [[w for w, _ in s] for s in tiny_corpus(20, seed=8)] + [[]]
    with_probs = trained.predict_ids(sents)
    without = trained.predict_ids(sents, probabilities=False)
    for (ids_a, probs), (ids_b, none) in zip(with_probs, without):
        np.testing.assert_array_equal(ids_a, ids_b)
        assert none is None and probs.shape == ids_a.shape and np.all((probs > 0) & (probs <= 1))


def test_predict_flat_lays_each_sentences_tags_end_to_end(trained):
    """predict_flat (the tag command's form) gives every token the tag and probability that
    tagging its sentence alone gives, the sentences end to end from their offsets; empty
    sentences hold no tokens."""
    sents = [[], *([w for w, _ in s] for s in tiny_corpus(25, seed=12)), [], ["cat"], []]
    best, probs, offsets = trained.predict_flat(iter(sents))
    assert offsets.tolist() == np.cumsum([0, *map(len, sents)]).tolist()
    assert best.shape == probs.shape == (offsets[-1],) and probs.dtype == np.float32
    for i, sentence in enumerate(sents):
        [(alone, alone_probs)] = trained.predict_ids([sentence])
        np.testing.assert_array_equal(best[offsets[i] : offsets[i + 1]], alone)
        np.testing.assert_array_equal(probs[offsets[i] : offsets[i + 1]], alone_probs)
    assert trained.predict_flat(sents, probabilities=False)[1] is None
    nothing, none, starts = trained.predict_flat([[], []])
    assert nothing.tolist() == [] and none.tolist() == [] and starts.tolist() == [0, 0, 0]


def test_a_model_saved_in_the_other_byte_order_tags_the_same(trained, tmp_path):
    """Weights of the other byte order (saved on a big-endian machine, say) give the same tags
    and probabilities, in arrays of the native byte order."""
    trained.save(tmp_path / "m")
    sents = [[w for w, _ in s] for s in tiny_corpus(20, seed=13)] + [[]]
    expected = RNNTagger.load(tmp_path / "m").predict_ids(sents)
    weights = tmp_path / "m" / "weights.npz"
    with np.load(weights, allow_pickle=False) as stored:
        swapped = {key: stored[key].astype(stored[key].dtype.newbyteorder("S")) for key in stored.files}
    np.savez(weights, **swapped)
    loaded = RNNTagger.load(tmp_path / "m")
    assert not loaded.params_["Why"].dtype.isnative
    for (ids, probs), (ids_expected, probs_expected) in zip(loaded.predict_ids(sents), expected):
        np.testing.assert_array_equal(ids, ids_expected)
        np.testing.assert_array_equal(probs, probs_expected)
        assert probs.dtype.isnative and probs.dtype == probs_expected.dtype


def test_same_seed_same_model_and_other_seed_other_model():
    corpus = tiny_corpus(40)
    cfg = dict(**{**SMALL, "epochs": 2})
    a = RNNTagger(TrainConfig(**cfg, seed=3)).fit(corpus)
    b = RNNTagger(TrainConfig(**cfg, seed=3)).fit(corpus)
    c = RNNTagger(TrainConfig(**cfg, seed=4)).fit(corpus)
    assert all(np.array_equal(a.params_[k], b.params_[k]) for k in a.params_)
    assert not np.array_equal(a.params_["Whh"], c.params_["Whh"])


def test_save_and_load_give_bit_identical_predictions(trained, tmp_path):
    trained.save(tmp_path / "m", corpus="tiny", tagset="native", split="train")
    loaded = RNNTagger.load(tmp_path / "m")
    sents = [[w for w, _ in s] for s in tiny_corpus(30, seed=2)]
    for (ids_a, p_a), (ids_b, p_b) in zip(trained.predict_ids(sents), loaded.predict_ids(sents)):
        np.testing.assert_array_equal(ids_a, ids_b)
        np.testing.assert_array_equal(p_a, p_b)
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    assert meta["format_version"] == 2 and meta["corpus"] == "tiny" and meta["tagset"] == "native"
    assert meta["config"]["hidden"] == 16 and meta["tags"][:2] == ["<pad>", "<unk>"]
    assert meta["vocabularies"]["word"][:2] == ["<pad>", "<unk>"]
    assert meta["dev_accuracy"] == trained.dev_accuracy_
    with np.load(tmp_path / "m" / "weights.npz", allow_pickle=False) as weights:
        assert set(weights.files) == set(trained.params_)


def test_saving_over_a_model_replaces_it_whole_but_never_the_users_files(trained, tmp_path):
    from postagger.errors import UsageError

    folder = tmp_path / "m"
    trained.save(folder)
    (folder / "best.npz").write_bytes(b"a checkpoint's")  # a file of postagger's own that a model has not
    (folder / ".DS_Store").write_bytes(b"a file browser's")  # replaced too, or macOS users could never save again
    trained.save(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["history.json", "lexicon.npz", "model.json", "weights.npz"]
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no temporary folders left
    (folder / "notes.txt").write_text("mine")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(UsageError, match="holds files postagger did not write"):
        trained.save(folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


@pytest.mark.parametrize("damage", ["no_weights", "truncated", "garbage", "shapes", "newer", "older", "bad_json", "version_true",
                                    "meta_folder", "dev_accuracy", "tag_not_text", "word_not_text", "source_number",
                                    "source_file_number", "lexicon_truncated", "lexicon_shape", "lexicon_ids", "lexicon_columns",
                                    "lexicon_at_size", "lexicon_rows_swapped",
                                    "npy", "member_not_npy", "huge_array", "lexicon_npy", "deep_json", "long_integer", "hidden_edited"])
def test_broken_model_folders_raise_model_error(trained, tmp_path, damage):
    folder = tmp_path / "m"
    trained.save(folder)
    weights, meta_path = folder / "weights.npz", folder / "model.json"
    meta = json.loads(meta_path.read_text())
    if damage == "no_weights":
        weights.unlink()
    elif damage == "truncated":
        weights.write_bytes(weights.read_bytes()[:200])
    elif damage == "garbage":  # numpy takes any other file for a pickle
        weights.write_text("garbage\n")
    elif damage in ("npy", "lexicon_npy"):
        with open(weights if damage == "npy" else folder / "lexicon.npz", "wb") as handle:
            np.save(handle, np.zeros(3))
    elif damage == "member_not_npy":  # numpy hands such a member over as bytes
        with zipfile.ZipFile(weights, "w") as archive:
            archive.writestr("Whh", "text")
    elif damage == "huge_array":  # a header promising 373 GiB
        with zipfile.ZipFile(weights, "w") as archive:
            archive.writestr("Whh.npy", b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 100000), }".ljust(128 + 10 - 1, b" ")[:127] + b"\n")
    elif damage == "deep_json":
        meta_path.write_text("[" * 100_000 + "]" * 100_000)
    elif damage in ("long_integer", "hidden_edited"):
        meta["config"]["hidden"] = 987654321 if damage == "long_integer" else meta["config"]["hidden"] + 1
        meta_path.write_text(json.dumps(meta).replace("987654321", "1" + "0" * 5000))  # Python reads 4,300 digits at most
    elif damage in ("tag_not_text", "word_not_text", "source_number", "source_file_number"):
        if damage == "tag_not_text":
            meta["tags"][3] = 7
        elif damage == "word_not_text":
            meta["vocabularies"]["word"][3] = None
        else:
            meta["source"] = 5 if damage == "source_number" else {"train_file": 5}
        meta_path.write_text(json.dumps(meta))
    elif damage == "shapes":
        meta["vocabularies"]["word"] = meta["vocabularies"]["word"][:-3]
        meta_path.write_text(json.dumps(meta))
    elif damage.startswith("lexicon"):
        lexicon = folder / "lexicon.npz"
        ids = np.load(lexicon)["ids"]
        if damage == "lexicon_truncated":
            lexicon.write_bytes(lexicon.read_bytes()[:100])
        else:
            at_size = ids.copy()  # an id one past its vocabulary, in the last group
            at_size[5, -1] = len(meta["vocabularies"][list(meta["vocabularies"])[-1]])
            broken = {"lexicon_shape": ids[:-1], "lexicon_ids": ids + np.array([0] * (ids.shape[1] - 1) + [10**6]),
                      "lexicon_columns": ids[:, ::-1], "lexicon_at_size": at_size, "lexicon_rows_swapped": ids[[1, 0, *range(2, len(ids))]]}[damage]
            np.savez(lexicon, ids=broken)
    elif damage in ("newer", "older", "version_true"):
        meta["format_version"] = {"newer": 99, "older": 1, "version_true": True}[damage]
        meta_path.write_text(json.dumps(meta))
    elif damage == "dev_accuracy":
        meta["dev_accuracy"] = "x"
        meta_path.write_text(json.dumps(meta))
    elif damage == "meta_folder":  # unreadable as a file
        meta_path.unlink()
        meta_path.mkdir()
    else:
        meta_path.write_text("{not json")
    with pytest.raises(ModelError) as err:
        RNNTagger.load(folder)
    assert str(folder) in str(err.value) and "\n" not in str(err.value)
    expected = {"version_true": "no valid format_version", "meta_folder": "cannot read", "garbage": "not an .npz archive",
                "tag_not_text": "must hold strings", "word_not_text": "must hold strings", "source_number": "source is 5",
                "source_file_number": "source is {'train_file': 5}", "npy": "one .npy array", "lexicon_npy": "one .npy array",
                "member_not_npy": "Whh is not an array", "huge_array": "too large to load", "deep_json": "nested too deeply",
                "long_integer": "not valid JSON", "hidden_edited": "config has hidden"}
    assert expected.get(damage, "") in str(err.value) and "pickle" not in str(err.value)
    if damage.startswith("lexicon"):
        assert "lexicon.npz" in str(err.value) and "delete it" in str(err.value)
        (folder / "lexicon.npz").unlink()  # as the message says
        assert RNNTagger.load(folder).tag(["the", "dog"])


def test_model_json_read_in_any_key_order_tags_alike(trained, tmp_path):
    """JSON objects have no order: model.json rewritten with sorted keys (jq -S) or two input
    groups swapped loads with its vocabularies in the config's order, the lexicon's columns,
    and tags as before (it used to fail, or tag with swapped ids, with or without the lexicon)."""
    folder = tmp_path / "m"
    trained.save(folder)
    meta = json.loads((folder / "model.json").read_text())
    groups = list(meta["vocabularies"])
    assert groups == ["word", *trained.config.features] and len(groups) >= 3
    sents = [[w for w, _ in s] for s in tiny_corpus(20, seed=8)] + [["Zyx", "naïve", "1984", "Re-Entry"]]
    expected = trained.tag_sents(sents)
    swapped = [groups[0], groups[2], groups[1], *groups[3:]]
    for order in (sorted(groups), swapped):
        meta["vocabularies"] = {g: meta["vocabularies"][g] for g in order}
        (folder / "model.json").write_text(json.dumps(meta, sort_keys=order == sorted(groups)))
        for with_lexicon in (True, False):
            loaded = RNNTagger.load(folder)
            assert list(loaded.vocabs_) == groups
            assert loaded.tag_sents(sents) == expected
            if with_lexicon:
                (folder / "lexicon.npz").unlink()
        trained.save(folder)  # the lexicon back


def test_vocabularies_other_than_the_configs_features_are_malformed(trained, tmp_path):
    folder = tmp_path / "m"
    trained.save(folder)
    meta = json.loads((folder / "model.json").read_text())
    meta["config"]["features"] = meta["config"]["features"][:1]
    (folder / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match=r"model\.json: malformed \(ValueError: vocabularies .* are not those of the config's word and features"):
        RNNTagger.load(folder)


def test_a_missing_right_to_left_weight_is_named(trained, tmp_path):
    folder = tmp_path / "m"
    _save_with_weights(trained, folder, lambda p: p.pop("Whh_b"))
    with pytest.raises(ModelError, match=r"weights\.npz: parameters do not form a network: missing \['Whh_b'\], unknown \[\]$"):
        RNNTagger.load(folder)


def test_an_array_of_python_objects_is_refused_unread(trained, tmp_path):
    folder = tmp_path / "m"
    trained.save(folder)
    np.savez(folder / "weights.npz", **{**trained.params_, "Whh": np.array([{"a": 1}, None], dtype=object)})
    with pytest.raises(ModelError, match=r"weights\.npz: Whh holds Python objects, which postagger does not unpickle$"):
        RNNTagger.load(folder)


def test_plain_brackets_and_slashes_tag_as_the_treebank_spellings_it_learned():
    """A treebank model met "(" and "1/2" from the tokenizer as unknown words: it had learned
    -LRB- and 1\\/2. Each now reads as the spelling it knows, with the same scores."""
    sents = [[("-LRB-", "-LRB-"), ("1\\/2", "CD"), ("cup", "NN"), ("-RRB-", "-RRB-")], [("a", "DT"), ("cup", "NN")]] * 15
    tagger = RNNTagger(TrainConfig(**SMALL, seed=2)).fit(sents)
    plain, escaped = ["(", "1/2", "cup", ")"], ["-LRB-", "1\\/2", "cup", "-RRB-"]
    assert all(map(tagger.is_known, plain)) and not tagger.is_known("[")
    (ids_plain, p_plain), (ids_escaped, p_escaped) = tagger.predict_ids([plain, escaped])
    np.testing.assert_array_equal(ids_plain, ids_escaped)
    np.testing.assert_array_equal(p_plain, p_escaped)
    assert [t for _, t in tagger.tag(plain)] == ["-LRB-", "CD", "NN", "-RRB-"]


def test_straight_double_quotes_tag_as_the_treebank_quotes_it_learned():
    """A treebank model never saw ", only `` and '': pretokenized text's " reads as `` where it
    opens a quote and as '' where it closes one, with the same scores."""
    sents = [[("He", "PRP"), ("said", "VBD"), ("``", "``"), ("no", "UH"), ("''", "''")], [("no", "UH")]] * 15
    tagger = RNNTagger(TrainConfig(**SMALL, seed=2)).fit(sents)
    straight, treebank = ["He", "said", '"', "no", '"'], ["He", "said", "``", "no", "''"]
    assert tagger.is_known('"')
    (ids_straight, p_straight), (ids_treebank, p_treebank) = tagger.predict_ids([straight, treebank])
    np.testing.assert_array_equal(ids_straight, ids_treebank)
    np.testing.assert_array_equal(p_straight, p_treebank)
    assert tagger.tag(straight) == [("He", "PRP"), ("said", "VBD"), ('"', "``"), ("no", "UH"), ('"', "''")]
    # a quote that ends a sentence closes one opened before it
    assert tagger.tag(["no", '"'])[1] == ('"', "''")
    assert tagger.tag(["He", '"', "no"])[1] == ('"', "``")


def test_a_tag_named_like_padding_or_the_unknown_is_refused():
    """Tagged <pad> it was learned as padding (masked out), tagged <unk> as no tag: a model that
    could never predict them."""
    for tag in ("<pad>", "<unk>"):
        with pytest.raises(ValueError, match=f"the tag '{tag}' is one postagger keeps for itself"):
            RNNTagger(TrainConfig(epochs=1, hidden=4)).fit([[("The", "DT"), ("cat", tag)]])


def test_nothing_to_train_on_is_a_value_error():
    with pytest.raises(ValueError, match="no tagged tokens to train on"):
        RNNTagger(TrainConfig(**SMALL)).fit([])
    with pytest.raises(ValueError, match="no tagged tokens to train on"):
        RNNTagger(TrainConfig(**SMALL)).fit([[], []])


def test_a_model_folder_can_be_read_by_others(trained, tmp_path):
    old = os.umask(0o022)
    try:
        trained.save(tmp_path / "m")
    finally:
        os.umask(old)
    assert (tmp_path / "m").stat().st_mode & 0o777 == 0o755


def test_a_file_is_not_a_model_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ModelError, match="notes.txt: a file, not a model folder"):
        RNNTagger.load(tmp_path / "notes.txt")


def test_a_token_that_is_not_a_string_is_a_type_error_naming_it(trained):
    tagger = trained
    expected = tagger.tag_sents([["the", "dog"]])
    for tokens, message in (([1, 2], "not int: 1"), (["the", None], "not NoneType: None"), ([["the"]], r"not list: \['the'\]")):
        with pytest.raises(TypeError, match=f"^a token must be a string, {message}$"):
            tagger.tag(tokens)
    assert tagger.tag_sents([["the", "dog"]]) == expected  # nothing half-learned from the failed calls


def test_an_untrained_tagger_says_so(tmp_path):
    from postagger.errors import NotFittedError

    tagger = RNNTagger()
    for use in (lambda: tagger.tag(["a"]), lambda: tagger.predict_ids([["a"]]), lambda: tagger.is_known("a"),
                lambda: tagger.save(tmp_path / "model")):
        with pytest.raises(NotFittedError, match="not trained: call fit, or RNNTagger.load a model") as raised:
            use()
        assert isinstance(raised.value, ValueError) and isinstance(raised.value, AttributeError)  # as scikit-learn's
    assert not hasattr(tagger, "encoder_") and not (tmp_path / "model").exists()


def test_a_sentence_given_as_a_string_is_a_type_error(trained):
    with pytest.raises(TypeError, match="not a string"):
        trained.tag("the dog")
    with pytest.raises(TypeError, match="not a string"):
        trained.tag_sents([["the", "dog"], "the dog"])
    with pytest.raises(TypeError, match="not a string"):
        trained.predict_ids(["the dog"])
    assert trained.tag_sents(iter([("the", "dog"), []])) == [trained.tag(["the", "dog"]), []]


def test_a_saved_lexicon_gives_the_tags_of_one_built_from_the_vocabularies(trained, tmp_path):
    """A folder keeps every vocabulary word's group ids; one saved without them (an older
    postagger) builds them on first use, and both tag alike."""
    folder = tmp_path / "m"
    trained.save(folder)
    loaded = RNNTagger.load(folder)
    np.testing.assert_array_equal(loaded._lexicon, trained.encoder_.lexicon)
    (folder / "lexicon.npz").unlink()
    rebuilt = RNNTagger.load(folder)
    assert rebuilt._lexicon is None
    sents = [[w for w, _ in s] for s in tiny_corpus(12, seed=3)] + [["Zyx", "<unk>", "<pad>", "naïve", "1984"]]
    assert loaded.tag_sents(sents) == rebuilt.tag_sents(sents) == trained.tag_sents(sents)
    np.testing.assert_array_equal(rebuilt.encoder_.lexicon, loaded._lexicon)


def test_tagging_path_equals_the_training_forward(trained):
    """Tagging sums each type's input rows once per call; training sums them per batch."""
    from postagger import model
    from postagger.encoding import encode_corpus, make_batch

    sents = [[w for w, _ in s] for s in tiny_corpus(12, seed=3)]
    corpus = encode_corpus(trained.encoder_, sents)
    batch = make_batch(corpus, np.arange(len(sents)))
    scores = model.predict_scores(trained.params_, batch.inputs, batch.tokens, batch.mask)
    best = scores[..., 2:].argmax(axis=-1) + 2
    for row, (ids, _) in enumerate(trained.predict_ids(sents)):
        np.testing.assert_array_equal(best[row, : len(ids)], ids)


def test_saving_never_replaces_a_file_or_a_folder_that_is_not_a_model(trained, tmp_path):
    from postagger.errors import UsageError

    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "thesis.tex").write_text("mine")
    for target in (tmp_path / "notes.txt", tmp_path / "docs"):
        with pytest.raises(UsageError, match="refusing to replace"):
            trained.save(target)
    assert (tmp_path / "notes.txt").read_text() == "mine" and (tmp_path / "docs" / "thesis.tex").read_text() == "mine"
    (tmp_path / "empty").mkdir()
    trained.save(tmp_path / "empty")  # an empty folder is fine
    assert (tmp_path / "empty" / "model.json").exists()


@pytest.mark.parametrize("cache_limit,bytes_limit", [(2_000_000, 256 * 2**20), (5, 256 * 2**20), (2_000_000, 1)])
def test_cached_input_preactivations_give_the_same_tags(trained, tmp_path, monkeypatch, cache_limit, bytes_limit):
    """A tagger that met other words first (its pre-activation cache filled, the encoder's cache
    cleared and renumbered, or the cache over its size limit) gives bit-for-bit the same
    tags and probabilities as a fresh one."""
    from postagger.encoding import Encoder
    from postagger.tagger import _PreactivationCache

    trained.save(tmp_path / "m")
    sents = [[w for w, _ in s] for s in tiny_corpus(20, seed=5)] + [["Unseen", "zzyzx", "words"]]
    expected = RNNTagger.load(tmp_path / "m").predict_ids(sents)
    monkeypatch.setattr(Encoder, "CACHE_LIMIT", cache_limit)
    monkeypatch.setattr(_PreactivationCache, "LIMIT_BYTES", bytes_limit)
    tagger = RNNTagger.load(tmp_path / "m")
    for other in (tiny_corpus(15, seed=6), tiny_corpus(15, seed=7)):
        tagger.predict_ids([[w for w, _ in s] for s in other])
    got = tagger.predict_ids(sents)
    for (ids_a, p_a), (ids_b, p_b) in zip(expected, got):
        np.testing.assert_array_equal(ids_a, ids_b)
        np.testing.assert_array_equal(p_a, p_b)
    if cache_limit == 5:
        assert tagger.encoder_.generation > 0


def _save_with_weights(trained, folder, change) -> dict:
    """trained saved in folder, its weights.npz rewritten with change(params) applied."""
    trained.save(folder)
    params = {k: v.copy() for k, v in trained.params_.items()}
    change(params)
    np.savez(folder / "weights.npz", **params)
    return params


@pytest.mark.parametrize("key,damage,problem", [
    ("by", lambda p: p.__setitem__("by", p["by"][:4]), "has shape (4,) but the network needs (7,) for model.json's 7 tags"),
    ("bh", lambda p: p.__setitem__("bh", p["bh"][:10]), "has shape (10,) but the network needs (16,)"),
    ("Why", lambda p: p.__setitem__("Why", p["Why"][:10]), "has shape (10, 7) but the network needs (32, 7) for model.json's 7 tags"),
    ("Whh_b", lambda p: p.__setitem__("Whh_b", p["Whh_b"][:, :10]), "has shape (16, 10) but the network needs (16, 16)"),
    ("Whh", lambda p: p.__setitem__("Whh", p["Whh"][:15]), "has shape (15, 16); a recurrent weight is (H, H), or (H, 4H) for the LSTM, (H, 3H) for the GRU"),
    ("Why", lambda p: p["Why"].__setitem__((3, 2), np.nan), "holds NaN or infinite values"),
    ("Wxh_suf2", lambda p: p["Wxh_suf2"].__setitem__((0, 0), -np.inf), "holds NaN or infinite values"),
    ("by", lambda p: p["by"].__setitem__(0, np.inf), "holds NaN or infinite values"),
], ids=["by-truncated", "bh-truncated", "Why-truncated", "Whh_b-narrowed", "Whh-truncated", "Why-nan", "Wxh_suf2-inf", "by-inf"])
def test_damaged_weights_fail_at_load_naming_the_file_and_the_array(trained, tmp_path, key, damage, problem):
    """Weights that form no network of model.json's sizes, or hold NaN or inf, fail at load;
    before, they loaded, then broke tagging (broadcast errors) or tagged every token <pad>."""
    assert trained.params_["Why"].shape == (32, 7)  # the sizes the messages name: H = 16, two directions, 7 tags
    folder = tmp_path / "m"
    _save_with_weights(trained, folder, damage)
    with pytest.raises(ModelError) as err:
        RNNTagger.load(folder)
    assert str(err.value) == f"{folder / 'weights.npz'}: {key} {problem}"


def test_weights_must_all_be_of_one_float_dtype(trained, tmp_path):
    """One float64 array among float32 ones (which broke tagging with a casting TypeError), or an
    integer table, fails at load; weights that are all float64 form a network and tag alike."""
    folder = tmp_path / "m"
    _save_with_weights(trained, folder, lambda p: p.__setitem__("Why", p["Why"].astype(np.float64)))
    with pytest.raises(ModelError, match=r"weights\.npz: Why is float64, the other weights float32$"):
        RNNTagger.load(folder)
    _save_with_weights(trained, folder, lambda p: p.__setitem__("Wxh_shape", p["Wxh_shape"].astype(np.int64)))
    with pytest.raises(ModelError, match=r"weights\.npz: Wxh_shape is int64, not float32 or float64$"):
        RNNTagger.load(folder)
    _save_with_weights(trained, folder, lambda p: p.update({k: v.astype(np.float64) for k, v in p.items()}))
    loaded = RNNTagger.load(folder)
    assert loaded.params_["Why"].dtype == np.float64
    sents = [[w for w, _ in s] for s in tiny_corpus(20, seed=2)]
    assert loaded.tag_sents(sents) == trained.tag_sents(sents)


@pytest.mark.parametrize("cell,layers,bidirectional", [("rnn", 1, True), ("rnn", 3, False), ("lstm", 2, True), ("gru", 2, False)])
def test_the_shapes_load_requires_are_those_init_params_makes(cell, layers, bidirectional):
    from postagger import model

    sizes = {"word": 11, "suf2": 5, "shape": 3}
    cfg = model.RNNConfig(input_sizes=sizes, n_tags=9, hidden=6, layers=layers, bidirectional=bidirectional, cell=cell)
    params = model.init_params(cfg, np.random.default_rng(0))
    expected = model.param_shapes(model.architecture(params), sizes, 9)
    assert expected == {k: v.shape for k, v in params.items()}


def test_tag_sents_and_predict_ids_take_any_iterable(trained):
    """As NLTK's TaggerI.tag_sents: a generator, a tuple or a map of token sequences."""
    sents = [[w for w, _ in s] for s in tiny_corpus(20, seed=4)] + [[]]
    expected = trained.tag_sents(sents)
    assert trained.tag_sents(s for s in sents) == expected
    assert trained.tag_sents(tuple(map(tuple, sents))) == expected
    assert trained.tag_sents(iter([])) == []
    ids = [i.tolist() for i, _ in trained.predict_ids(iter(sents), probabilities=False)]
    assert ids == [i.tolist() for i, _ in trained.predict_ids(sents, probabilities=False)]


def test_accuracy_is_the_fraction_of_tokens_tagged_as_gold(trained):
    """accuracy(gold) as NLTK's TaggerI.accuracy, and as the evaluate module scores the same tags."""
    from nltk.tag.api import TaggerI

    from postagger import evaluate

    gold = tiny_corpus(30, seed=11) + [[("The", "DT"), ("cat", "XYZ")], []]  # a tag the model never saw counts wrong
    words = [[w for w, _ in s] for s in gold]
    predicted = [t for s in trained.tag_sents(words) for _, t in s]
    gold_tags = [t for s in gold for _, t in s]
    right = sum(p == g for p, g in zip(predicted, gold_tags))
    accuracy = trained.accuracy(gold)
    assert accuracy == right / len(gold_tags) and 0.5 < accuracy < 1
    assert accuracy == pytest.approx(evaluate.score(gold_tags, predicted, [True] * len(predicted))["accuracy"], abs=1e-15)
    assert TaggerI.accuracy(trained, gold) == pytest.approx(accuracy, abs=1e-15)  # NLTK's, through tag_sents(generator)
    assert trained.accuracy(s for s in gold) == accuracy
    with pytest.raises(ValueError, match="no tagged tokens"):
        trained.accuracy([[], []])


def test_the_reserved_names_are_not_known_words(trained):
    assert trained.is_known("the") and not trained.is_known("zzyzx")
    assert not trained.is_known("<unk>") and not trained.is_known("<pad>")  # the reserved ids' names


@pytest.mark.parametrize("change, error, message", [
    (lambda s: [[(w, i % 5) for i, (w, _) in enumerate(x)] for x in s], TypeError, "every tag must be a string, not int"),
    (lambda s: [[(None, t) for _, t in x] for x in s], TypeError, "every word must be a string, not NoneType"),
])
def test_fit_refuses_what_a_saved_model_could_not_hold(change, error, message):
    """Non-string tags trained, tagged, saved, and then failed to load."""
    with pytest.raises(error, match=message):
        RNNTagger(TrainConfig(hidden=4, epochs=1)).fit(change(tiny_corpus(40)))


def test_fit_checks_its_configuration_and_reads_a_generator_once():
    with pytest.raises(ValueError, match="config.hidden is 0, under 1"):
        RNNTagger(TrainConfig(hidden=0, epochs=1)).fit(tiny_corpus(40))
    from_generator = RNNTagger(TrainConfig(hidden=4, epochs=1)).fit(iter(tiny_corpus(40)))
    from_list = RNNTagger(TrainConfig(hidden=4, epochs=1)).fit(tiny_corpus(40))
    for name in from_list.params_:
        np.testing.assert_array_equal(from_generator.params_[name], from_list.params_[name])


def test_min_feature_count_leaves_every_training_word_in_the_word_vocabulary():
    from postagger.tagger import build_vocabs

    vocabs = build_vocabs([["the", "cat"], ["the", "dog"]], ("suf2",), min_count=2)
    assert set(vocabs["word"].tokens) == {"the", "cat", "dog"}
    assert set(vocabs["suf2"].tokens) == {"he"}  # "at" and "og" once each: under min_count
