"""Speed of postagger against NLTK's PerceptronTagger and against the same network in PyTorch,
measured side by side in one run on one machine. Prints one table of figures and ratios and
writes it to bench/results/speed.md.

    python bench/speed.py                 # about 5 minutes
    python bench/speed.py --skip-memory   # without the brown memory run

PyTorch is a bench-only extra (pip install torch==2.13.0 here); without it its rows are skipped.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from postagger import corpora, model, vocab  # noqa: E402
from postagger.encoding import Encoder, encode_corpus, length_batches, make_batch  # noqa: E402
from postagger.tagger import RNNTagger  # noqa: E402
from postagger.train import TrainConfig  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "speed.md"


def best_of(n: int, run) -> float:
    """Smallest wall time of n runs of run(), which returns its own timed seconds."""
    return min(run() for _ in range(n))


def gemm_rate(size: int = 2048) -> float:
    """numpy's large float32 matrix-product rate, FLOP/s."""
    rng = np.random.default_rng(0)
    a, b = (rng.normal(size=(size, size)).astype(np.float32) for _ in range(2))
    a @ b

    def run():
        started = time.perf_counter()
        a @ b
        return time.perf_counter() - started

    return 2 * size**3 / best_of(5, run)


def flops_per_token(arch: model.Architecture, n_tags: int) -> int:
    """Matrix-product FLOPs of forward plus backward for one token (the row lookups and the
    elementwise work are left out): per lane H*H in forward, twice that in backward, and the
    output layer's D*H*K three times."""
    D, H = arch.directions, arch.hidden
    return 2 * (3 * D * H * H + 3 * D * H * n_tags)


def dense_core_rate(arch: model.Architecture, n_tags: int, N: int = 32, T: int = 25) -> float:
    """FLOP/s of the dense core alone: the recurrences and the output layer, forward and
    backward, on one (N, T) batch of random float32 activations."""
    from postagger import layers

    rng = np.random.default_rng(0)
    D, H = arch.directions, arch.hidden
    x = rng.normal(size=(D, T, N, H)).astype(np.float32)
    Wh = (rng.normal(size=(D, H, H)) / np.sqrt(H)).astype(np.float32)
    Why = rng.normal(size=(D * H, n_tags)).astype(np.float32)
    dscores = rng.normal(size=(T, N, n_tags)).astype(np.float32)

    def run():
        started = time.perf_counter()
        h, cache = layers.rnn_forward(x, Wh)
        model._project_lanes(h, Why)
        _, dh = model._project_lanes_backward(dscores, h, Why)
        layers.rnn_backward(dh, cache)
        return time.perf_counter() - started

    run()
    return flops_per_token(arch, n_tags) * N * T / best_of(20, run)


def perceptron_figures(train, test):
    from nltk.tag.perceptron import PerceptronTagger

    def train_seconds(iterations: int) -> float:
        random.seed(0)
        tagger = PerceptronTagger(load=False)
        started = time.perf_counter()
        tagger.train(train, nr_iter=iterations)
        return time.perf_counter() - started, tagger

    one, _ = train_seconds(1)
    three, tagger = train_seconds(3)
    per_iteration = (three - one) / 2  # one iteration, without the set-up and averaging
    words = [[w for w, _ in s] for s in test]

    def tag():
        started = time.perf_counter()
        tagger.tag_sents(words)
        return time.perf_counter() - started

    n_train, n_test = sum(map(len, train)), sum(map(len, words))
    return n_train / per_iteration, n_test / best_of(3, tag)


def our_figures(train, dev, test, config: TrainConfig, folder: Path):
    tagger = RNNTagger(config).fit(train, dev)
    epoch = tagger.history_[0]
    tagger.save(folder)
    words = [[w for w, _ in s] for s in test]

    def tag():
        fresh = RNNTagger.load(folder)  # loading excluded, and no warm word cache
        vocab._COLLAPSED.clear()  # nor a warm shape memo
        started = time.perf_counter()
        fresh.tag_sents(words)
        return time.perf_counter() - started

    tag_rate = sum(map(len, words)) / best_of(3, tag)
    fresh = RNNTagger.load(folder)
    fresh.tag_sents(words)

    def tag_again():
        started = time.perf_counter()
        fresh.tag_sents(words)
        return time.perf_counter() - started

    warm_rate = sum(map(len, words)) / best_of(3, tag_again)
    same = fresh.tag_sents(words) == [fresh.tag(s) for s in words]
    return tagger, epoch.tokens_per_s, tag_rate, warm_rate, same


def torch_figures(tagger: RNNTagger, train, test, config: TrainConfig, tag_batch: int):
    """The same network in PyTorch: one nn.Embedding per input group (summed), nn.RNN(tanh),
    nn.Linear; cross-entropy, backward, clipping and an Adam step; 2 threads; our batches."""
    import torch

    torch.set_num_threads(2)
    torch.manual_seed(0)
    H, K = config.hidden, len(tagger.tags_)
    sizes = [len(v) for v in tagger.vocabs_.values()]

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embeddings = torch.nn.ModuleList(torch.nn.Embedding(v, H, padding_idx=0) for v in sizes)
            self.rnn = torch.nn.RNN(H, H, nonlinearity="tanh", bidirectional=config.bidirectional, batch_first=True)
            self.out = torch.nn.Linear(H * (2 if config.bidirectional else 1), K)

        def forward(self, ids):  # ids (G, N, T)
            x = self.embeddings[0](ids[0])
            for g in range(1, len(sizes)):
                x = x + self.embeddings[g](ids[g])
            return self.out(self.rnn(x)[0])

    def tensors(corpus, batch_size, rng):
        out = []
        for index in length_batches(corpus.lengths, batch_size, rng):
            b = make_batch(corpus, index)
            ids = np.stack([b.inputs[g][b.tokens] for g in corpus.groups]).astype(np.int64)
            tags = np.where(b.mask == 1, b.tags, -100).astype(np.int64)
            out.append((torch.from_numpy(ids), torch.from_numpy(tags), int(b.mask.sum())))
        return out

    encoder = tagger._encoder_()
    train_corpus = encode_corpus(encoder, [[w for w, _ in s] for s in train], [[t for _, t in s] for s in train], tagger.tags_)
    test_corpus = encode_corpus(encoder, [[w for w, _ in s] for s in test], [[t for _, t in s] for s in test], tagger.tags_)
    net = Net()
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
    batches = tensors(train_corpus, config.batch_size, np.random.default_rng(0))
    started, tokens = time.perf_counter(), 0
    for ids, tags, n in batches:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(ids).reshape(-1, K), tags.reshape(-1), ignore_index=-100)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), config.clip)
        optimizer.step()
        tokens += n
    train_rate = tokens / (time.perf_counter() - started)
    tag_batches = tensors(test_corpus, tag_batch, None)

    def tag():
        started = time.perf_counter()
        with torch.no_grad():
            for ids, _, _ in tag_batches:
                net(ids).argmax(-1)
        return time.perf_counter() - started

    net_rate = test_corpus.n_tokens / best_of(3, tag)
    words = [[w for w, _ in s] for s in test]

    def tag_words():
        """From words to tags as postagger's tag_sents does it: a cold Encoder, then the network."""
        vocab._COLLAPSED.clear()
        started = time.perf_counter()
        corpus = encode_corpus(Encoder(tagger.vocabs_), words)
        with torch.no_grad():
            for index in length_batches(corpus.lengths, tag_batch):
                b = make_batch(corpus, index, corpus_types=True)
                ids = torch.from_numpy(corpus.type_ids[:, b.tokens].astype(np.int64))
                net(ids).argmax(-1)
        return time.perf_counter() - started

    tag_rate = test_corpus.n_tokens / best_of(3, tag_words)
    return train_rate, tag_rate, net_rate, torch.__version__


def peak_memory_on_brown() -> tuple[float, int]:
    """Peak RSS (GiB) of a process that trains one epoch of the default network on all of brown."""
    code = (
        "from postagger import corpora; from postagger.tagger import RNNTagger; from postagger.train import TrainConfig;"
        "import threadpoolctl; threadpoolctl.threadpool_limits(1, 'blas');"
        "s = corpora.load_corpus('brown', 'universal', 'all');"
        "print(sum(map(len, s)));"
        "RNNTagger(TrainConfig(epochs=1)).fit(s)"
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(peak_kib, before) / 2**20, int(result.stdout.split()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-memory", action="store_true", help="skip the brown memory run")
    parser.add_argument("--tag-batch", type=int, default=64, help="sentences per tagging batch, both frameworks")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")  # postagger's default (--threads 1); PyTorch gets 2 below

    train, dev, test = (corpora.load_corpus("treebank", "native", s) for s in ("train", "dev", "test"))
    config = replace(TrainConfig(), epochs=1)
    rows: list[tuple[str, str, str]] = []

    def row(what: str, value: str, note: str = "") -> None:
        rows.append((what, value, note))
        print(f"{what:<58} {value:>16}  {note}", flush=True)

    peak = gemm_rate()
    row("numpy float32 2048x2048 matrix product, 1 thread", f"{peak / 1e9:.1f} GFLOP/s", "the reference rate, same threads as postagger")
    with threadpool_limits(limits=2, user_api="blas"):
        peak2 = gemm_rate()
    row("numpy float32 2048x2048 matrix product, 2 threads", f"{peak2 / 1e9:.1f} GFLOP/s", "the whole machine")
    p_train, p_tag = perceptron_figures(train, test)
    row("NLTK PerceptronTagger: one training iteration", f"{p_train:,.0f} tok/s", "treebank train")
    row("NLTK PerceptronTagger: tag_sents", f"{p_tag:,.0f} tok/s", "treebank test")
    with tempfile.TemporaryDirectory() as folder:
        tagger, o_train, o_tag, o_warm, same = our_figures(train, dev, test, config, Path(folder) / "model")
    row("postagger: one training epoch, default network", f"{o_train:,.0f} tok/s", f"batch {config.batch_size}, 1 BLAS thread")
    row("postagger: tag_sents, default network", f"{o_tag:,.0f} tok/s", "loading excluded, cold word cache")
    row("postagger: tag_sents again, warm word cache", f"{o_warm:,.0f} tok/s", "for reference: each word's input ids already known")
    row("ratio, training: postagger / perceptron", f"{o_train / p_train:.2f}x", "goal >= 3x")
    row("ratio, tagging: postagger / perceptron", f"{o_tag / p_tag:.2f}x", "goal >= 10x")
    arch = model.architecture(tagger.params_)
    per_token = flops_per_token(arch, len(tagger.tags_))
    row("postagger: forward+backward FLOP rate", f"{o_train * per_token / 1e9:.1f} GFLOP/s", f"{per_token:,} FLOP/token")
    row("FLOP rate / numpy's large-product rate, 1 thread", f"{100 * o_train * per_token / peak:.1f} %", "aim >= 30 %")
    row("FLOP rate / numpy's large-product rate, 2 threads", f"{100 * o_train * per_token / peak2:.1f} %", "against the whole machine")
    core = dense_core_rate(arch, len(tagger.tags_), N=config.batch_size)
    row("dense core alone (recurrences + output layer)", f"{core / 1e9:.1f} GFLOP/s", f"{100 * core / peak:.1f} % of the large-product rate")
    row("batched tagging equals one sentence at a time", "yes" if same else "NO", "treebank test")
    try:
        t_train, t_tag, t_net, version = torch_figures(tagger, train, test, config, args.tag_batch)
    except ImportError:
        row("PyTorch rows", "skipped", "torch is not installed (pip install torch==2.13.0)")
    else:
        row(f"PyTorch {version}: training steps, same network", f"{t_train:,.0f} tok/s", f"batch {config.batch_size}, 2 threads")
        row(f"PyTorch {version}: tagging, same network", f"{t_tag:,.0f} tok/s", f"batch {args.tag_batch}, 2 threads, words to tags with the same cold encoding")
        row(f"PyTorch {version}: tagging, network only", f"{t_net:,.0f} tok/s", "ids already encoded (for reference)")
        row("ratio, training: postagger / PyTorch", f"{o_train / t_train:.2f}x", "goal >= 3x")
        row("ratio, tagging: postagger / PyTorch", f"{o_tag / t_tag:.2f}x", "goal >= 3x")
        row("ratio, tagging without encoding: warm postagger / PyTorch network only", f"{o_warm / t_net:.2f}x", "for reference")
    if not args.skip_memory:
        gib, tokens = peak_memory_on_brown()
        row("postagger: peak RSS, one epoch on all of brown", f"{gib:.2f} GiB", f"{tokens:,} tokens; goal < 2 GiB")

    command = "python bench/speed.py " + " ".join(sys.argv[1:])
    text = "\n".join([
        "# Speed: postagger, NLTK's perceptron and PyTorch, measured in one run",
        "",
        f"Made by `{command.strip()}` on {platform.machine()}, {os.cpu_count()} cores, "
        f"{time.strftime('%Y-%m-%d')}, numpy {np.__version__}. Ratios come from figures measured "
        "in this same run. The perceptron's iteration is the difference of a 3- and a 1-iteration "
        "training, halved; tagging figures are the best of 3 runs.",
        "",
        "| measure | value | note |",
        "|---|---|---|",
        *[f"| {a} | {b} | {c} |" for a, b, c in rows],
        "",
    ])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
