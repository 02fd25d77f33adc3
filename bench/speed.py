"""Speed of postagger against NLTK's PerceptronTagger and against the same network in PyTorch,
measured side by side in one run on one machine. Prints one table of figures and ratios and
writes it to bench/results/speed.md.

    python bench/speed.py                 # about a minute once the corpora are cached
    python bench/speed.py --skip-memory   # without the brown memory run

PyTorch is a bench-only extra (pip install torch==2.13.0 here); without it its rows are skipped.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from postagger import corpora, lanes, model, vocab  # noqa: E402
from postagger.encoding import Encoder, encode_corpus, length_batches, make_batch  # noqa: E402
from postagger.tagger import RNNTagger, tagged_sentences  # noqa: E402
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


def flops_per_token_torch(arch: model.Architecture, n_tags: int) -> int:
    """flops_per_token for the PyTorch network: nn.RNN also multiplies each lane's input by its
    W_ih (H, H), forward, and backward for the input's gradient and W_ih's: 6 D H^2 more."""
    return flops_per_token(arch, n_tags) + 6 * arch.directions * arch.hidden**2


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


def forward_backward_rate(tagger: RNNTagger, train, batch_size: int) -> float:
    """Real tokens/s of forward plus backward alone (model.batch_loss_and_grads: loss and every
    gradient, the input tables' rows included), in this process on its one BLAS thread, over
    one epoch's batches of the trained tagger; no optimizer step, no batching in the time. The
    faster of two passes."""
    corpus = encode_corpus(tagger.encoder_, [[w for w, _ in s] for s in train], [[t for _, t in s] for s in train], tagger.tags_)
    batches = [make_batch(corpus, index) for index in length_batches(corpus.lengths, batch_size, np.random.default_rng(0))]
    n_tokens = sum(int(b.mask.sum()) for b in batches)

    def run():
        started = time.perf_counter()
        for b in batches:
            model.batch_loss_and_grads(tagger.params_, b.inputs, b.tokens, b.tags, b.mask)
        return time.perf_counter() - started

    return n_tokens / best_of(2, run)


class Ours:
    """postagger's default network: training epochs and tag_sents."""

    def __init__(self, train, dev, test, config: TrainConfig, folder: Path):
        self.train, self.dev, self.config, self.folder = train, dev, config, folder
        self.words = [[w for w, _ in s] for s in test]
        self.tagger = RNNTagger(replace(config, epochs=1)).fit(train, dev)
        self.tagger.save(folder)
        self.warm = RNNTagger.load(folder)
        self.warm.tag_sents(self.words)

    def train_rate(self) -> float:
        """Tokens/s of the second epoch of a fresh 2-epoch training."""
        return RNNTagger(replace(self.config, epochs=2)).fit(self.train, self.dev).history_[1].tokens_per_s

    def tag_rate(self) -> float:
        fresh = RNNTagger.load(self.folder)  # loading excluded, and no warm word cache
        vocab._COLLAPSED.clear()  # nor a warm shape memo
        return _rate(lambda: fresh.tag_sents(self.words), self.words)

    def warm_tag_rate(self) -> float:
        return _rate(lambda: self.warm.tag_sents(self.words), self.words)

    def same_tags(self) -> bool:
        return self.warm.tag_sents(self.words) == [self.warm.tag(s) for s in self.words]


class Torch:
    """The same network in PyTorch: one nn.Embedding per input group (summed), nn.RNN(tanh),
    nn.Linear; cross-entropy, backward, clipping (but see optimizer) and an Adam step; 2 threads;
    our batches.

    It differs from ours as the framework's modules do: the groups' embeddings (V_g, H) are
    shared by both directions, and nn.RNN multiplies them by its own input matrix W_ih (H, H)
    per direction, with a second bias (see flops_per_token_torch). optimizer: "adam" (dense,
    torch.optim.Adam's default implementation), "fused" (Adam(fused=True): one kernel over all
    the weights), "fused, no clipping" (the issue's list of a step: cross-entropy, backward,
    Adam; ours clips, at no cost since its row-wise Adam needs the squares anyway) or "lazy"
    (sparse embedding gradients and SparseAdam, a lazy Adam as ours is; ours keeps one second
    moment per row, SparseAdam one per entry). Tagging is the same for all of them, so only
    one times it: packed sequences (no padding, as ours), batches of tag_batch sentences,
    under inference_mode."""

    def __init__(self, tagger: RNNTagger, train, test, config: TrainConfig, tag_batch: int, optimizer: str = "adam",
                 times_tagging: bool = True):
        import torch

        torch.set_num_threads(2)
        torch.manual_seed(0)
        self.torch, self.tagger, self.config, self.tag_batch = torch, tagger, config, tag_batch
        self.sparse, self.times_tagging = optimizer == "lazy", times_tagging
        self.clip = 0.0 if optimizer == "fused, no clipping" else config.clip
        H, self.K = config.hidden, len(tagger.tags_)
        sizes = [len(v) for v in tagger.vocabs_.values()]
        sparse = self.sparse

        class Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.embeddings = torch.nn.ModuleList(torch.nn.Embedding(v, H, padding_idx=0, sparse=sparse) for v in sizes)
                self.rnn = torch.nn.RNN(H, H, nonlinearity="tanh", bidirectional=config.bidirectional, batch_first=True)
                self.out = torch.nn.Linear(H * (2 if config.bidirectional else 1), len(tagger.tags_))

            def embed(self, ids):  # ids (G, ...) -> (..., H)
                x = self.embeddings[0](ids[0])
                for g in range(1, len(sizes)):
                    x = x + self.embeddings[g](ids[g])
                return x

            def forward(self, ids):  # ids (G, N, T), padded
                return self.out(self.rnn(self.embed(ids))[0])

            def forward_packed(self, ids, batch_sizes):  # ids (G, M): tokens in packed order
                packed = torch.nn.utils.rnn.PackedSequence(self.embed(ids), batch_sizes)
                return self.out(self.rnn(packed)[0].data)

        encoder = tagger.encoder_
        self.lexicon = encoder.lexicon
        train_corpus = encode_corpus(encoder, [[w for w, _ in s] for s in train], [[t for _, t in s] for s in train], tagger.tags_)
        self.net = Net()
        self.n_params = sum(p.numel() for p in self.net.parameters())
        if sparse:  # lazy Adam for the tables, Adam for the rest
            tables = list(self.net.embeddings.parameters())
            dense = [p for name, p in self.net.named_parameters() if not name.startswith("embeddings.")]
            self.optimizers = [torch.optim.SparseAdam(tables, lr=config.lr), torch.optim.Adam(dense, lr=config.lr)]
        else:
            self.optimizers = [torch.optim.Adam(self.net.parameters(), lr=config.lr, fused=optimizer.startswith("fused"))]
        self.batches = self._tensors(train_corpus, config.batch_size, np.random.default_rng(0))
        self.words = [[w for w, _ in s] for s in test]
        self.offsets = np.cumsum([0, *map(len, self.words)])
        test_ids = self._token_ids()
        self.tag_batches = [self._packed(test_ids, index)[:2]
                            for index in length_batches(np.diff(self.offsets), tag_batch)] if times_tagging else []
        self.train_rate()  # the first pass warms PyTorch up

    def _tensors(self, corpus, batch_size, rng):
        out = []
        for index in length_batches(corpus.lengths, batch_size, rng):
            b = make_batch(corpus, index)
            ids = np.stack([b.inputs[g][b.tokens] for g in corpus.groups]).astype(np.int64)
            tags = np.where(b.mask == 1, b.tags, -100).astype(np.int64)
            out.append((self.torch.from_numpy(ids), self.torch.from_numpy(tags), int(b.mask.sum())))
        return out

    def _token_ids(self) -> np.ndarray:
        """(G, M) the group ids of the test split's tokens, end to end, as a loaded tagger
        encodes them: a cold Encoder, each token's row in its cache."""
        encoder = Encoder(self.tagger.vocabs_, self.lexicon)
        return encoder.ids_of_rows(encoder.token_rows(self.words))

    def _packed(self, token_ids, index):
        """One tagging batch in PackedSequence's order: (ids (G, M) of the tokens step by step,
        the sentences longest first; batch_sizes (T,); each one's position among all tokens end
        to end (M,))."""
        lengths = self.offsets[index + 1] - self.offsets[index]
        index, lengths = index[np.argsort(-lengths, kind="stable")], np.sort(lengths)[::-1]
        starts = np.cumsum(lengths) - lengths
        positions = np.arange(lengths.sum()) + np.repeat(self.offsets[index] - starts, lengths)
        batch_sizes, order = model.packing(lengths)
        packed_positions = positions[order[0]]
        ids = np.ascontiguousarray(token_ids[:, packed_positions], dtype=np.int64)  # fancy indexing gives Fortran order
        return self.torch.from_numpy(ids), self.torch.from_numpy(batch_sizes.astype(np.int64)), packed_positions

    def train_rate(self) -> float:
        """Tokens/s of one pass of training steps over the same batches."""
        F = self.torch.nn.functional
        started = time.perf_counter()
        for ids, tags, _ in self.batches:
            for optimizer in self.optimizers:
                optimizer.zero_grad()
            loss = F.cross_entropy(self.net(ids).reshape(-1, self.K), tags.reshape(-1), ignore_index=-100)
            loss.backward()
            if self.sparse:
                self._clip_sparse()
            elif self.clip:
                self.torch.nn.utils.clip_grad_norm_(self.net.parameters(), self.clip)
            for optimizer in self.optimizers:
                optimizer.step()
        return sum(n for _, _, n in self.batches) / (time.perf_counter() - started)

    def _clip_sparse(self) -> None:
        """clip_grad_norm_ for sparse gradients too (PyTorch's own refuses them)."""
        grads = [p.grad for p in self.net.parameters() if p.grad is not None]
        for i, g in enumerate(grads):
            if g.is_sparse:
                grads[i] = g.coalesce()
        norm = float(self.torch.sqrt(sum((g._values() if g.is_sparse else g).pow(2).sum() for g in grads)))
        factor = self.clip / (norm + 1e-6)
        if factor < 1:
            for p in self.net.parameters():
                if p.grad is not None:
                    p.grad.mul_(factor)

    def tag_rate(self) -> float:
        """From words to tags as postagger's tag_sents does it: a cold Encoder, the network, and
        each sentence's (word, tag) pairs."""

        def run():
            token_ids = self._token_ids()
            best = np.empty(self.offsets[-1], dtype=np.int64)
            with self.torch.inference_mode():
                for index in length_batches(np.diff(self.offsets), self.tag_batch):
                    ids, batch_sizes, positions = self._packed(token_ids, index)
                    best[positions] = self.net.forward_packed(ids, batch_sizes).argmax(-1).numpy()
            return tagged_sentences(self.words, self.tagger.tags_.decode(best), self.offsets)

        vocab._COLLAPSED.clear()
        return _rate(run, self.words)

    def net_rate(self) -> float:
        """The network alone, on ids encoded and packed beforehand."""

        def run():
            with self.torch.inference_mode():
                for ids, batch_sizes in self.tag_batches:
                    self.net.forward_packed(ids, batch_sizes).argmax(-1)

        return _rate(run, self.words)


# name in the table -> Torch's optimizer
TORCH_VARIANTS = {"pytorch": "adam", "pytorch fused": "fused", "pytorch fused no clip": "fused, no clipping", "pytorch lazy": "lazy"}


def _rate(run, sentences) -> float:
    started = time.perf_counter()
    run()
    return sum(map(len, sentences)) / (time.perf_counter() - started)


TAG_CALLS = 5  # tagging calls per contestant in a round; the round keeps their median


def paired_rounds(train, test, others: dict, rounds: int) -> tuple[list[dict], list[dict]]:
    """Training and tagging rates, measured in rounds so that every ratio compares figures
    taken seconds apart (this machine's speed drifts by tens of percent within a minute).

    Training: one perceptron training of rounds + 1 iterations; each iteration ends with its one
    random.shuffle of the sentences, and there, between two iterations, every other contestant
    trains once. Round r pairs the perceptron's iteration r + 1, timed from the end of that
    pause to its own shuffle, with the runs in the pause just before it. Tagging: each round
    tags the test split TAG_CALLS times with every contestant, taking turns, and keeps each
    one's median: a call of ours or PyTorch's takes 9-40 ms, within the reach of a moment's stall.
    """
    from nltk.tag.perceptron import PerceptronTagger

    shuffle = random.shuffle
    training: list[dict] = [{} for _ in range(rounds)]
    n_tokens = sum(map(len, train))
    clock = {"ended": 0, "started": 0.0}  # iterations ended so far; when the timed one started

    def pause_between_iterations(items):
        shuffle(items)
        k = clock["ended"]  # the iteration that just ended, counting from 0
        if k >= 1:
            training[k - 1]["perceptron"] = n_tokens / (time.perf_counter() - clock["started"])
        clock["ended"] = k + 1
        if k < rounds:  # the pause before iteration k + 1, which round k times
            random.shuffle = shuffle  # the contestants may shuffle too
            for name, contestant in others.items():
                training[k][name] = contestant.train_rate()
            random.shuffle = pause_between_iterations
        clock["started"] = time.perf_counter()

    random.seed(0)
    perceptron = PerceptronTagger(load=False)
    random.shuffle = pause_between_iterations
    try:
        perceptron.train(train, nr_iter=rounds + 1)
    finally:
        random.shuffle = shuffle
    words = [[w for w, _ in s] for s in test]
    tagging = []
    for _ in range(rounds):
        calls: dict[str, list[float]] = defaultdict(list)
        for _ in range(TAG_CALLS):
            calls["perceptron"].append(_rate(lambda: perceptron.tag_sents(words), words))
            for name, contestant in others.items():
                if not getattr(contestant, "times_tagging", True):
                    continue
                calls[name].append(contestant.tag_rate())
                if hasattr(contestant, "warm_tag_rate"):
                    calls[name + " warm"].append(contestant.warm_tag_rate())
                if hasattr(contestant, "net_rate"):
                    calls[name + " network"].append(contestant.net_rate())
        tagging.append({name: statistics.median(rates) for name, rates in calls.items()})
    return training, tagging


MEMORY_CHILD = """
import os, threading, time
import threadpoolctl
from postagger import corpora
from postagger.tagger import RNNTagger
from postagger.train import TrainConfig

def high_water(pid):
    return int(next(line.split()[1] for line in open(f"/proc/{pid}/status") if line.startswith("VmHWM:")))

workers = {}  # the training's second process: its own high-water mark, read while it runs
def watch():
    while True:
        for pid in open(f"/proc/self/task/{os.getpid()}/children").read().split():
            try:
                workers[pid] = max(workers.get(pid, 0), high_water(pid))
            except (OSError, StopIteration, ValueError):
                pass
        time.sleep(0.05)

threadpoolctl.threadpool_limits(1, "blas")
threading.Thread(target=watch, daemon=True).start()
sentences = corpora.load_corpus("brown", "universal", "all")
RNNTagger(TrainConfig(epochs=1)).fit(sentences)
print(sum(map(len, sentences)), high_water("self"), sum(workers.values()))
"""


def peak_memory_on_brown() -> tuple[float, float, int]:
    """Peak RSS (GiB) of a process that trains one epoch of the default network on all of brown,
    and of its second process (the right-to-left lane; 0 in one process).

    Each process's own high-water mark (VmHWM in /proc/PID/status). Not ru_maxrss: a process
    started by vfork and exec inherits the peak of its parent's memory, so that this bench,
    holding the corpora and PyTorch, would be counted in it. Linux only.

    The corpus is parsed here first, so that the child reads the parsed cache (see
    corpora.cache_folder) as a second training does: parsing brown from NLTK's zip in the child
    would add its own peak (1.12 GiB against 0.95 in the training process on 0885db3)."""
    corpora.load_corpus("brown", "universal", "all")
    result = subprocess.run([sys.executable, "-c", MEMORY_CHILD], capture_output=True, text=True, cwd=ROOT, check=True)
    tokens, main_kib, worker_kib = result.stdout.split()
    return int(main_kib) / 2**20, int(worker_kib) / 2**20, int(tokens)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-memory", action="store_true", help="skip the brown memory run")
    parser.add_argument("--tag-batch", type=int, default=512,
                        help="sentences per PyTorch tagging batch (packed); postagger packs 512 (tagger.PACKED_BATCH)")
    parser.add_argument("--rounds", type=int, default=5,
                        help="rounds of paired measurements; figures are medians over them")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")  # postagger's default (--threads 1); PyTorch gets 2 below

    train, dev, test = (corpora.load_corpus("treebank", "native", s) for s in ("train", "dev", "test"))
    config = TrainConfig()
    rows: list[tuple[str, str, str]] = []

    def row(what: str, value: str, note: str = "") -> None:
        rows.append((what, value, note))
        print(f"{what:<58} {value:>16}  {note}", flush=True)

    peak = gemm_rate()
    with threadpool_limits(limits=2, user_api="blas"):
        peak2 = gemm_rate()
    with tempfile.TemporaryDirectory() as folder:
        ours = Ours(train, dev, test, config, Path(folder) / "model")
        others = {"postagger": ours}
        try:
            import torch

            for name, optimizer in TORCH_VARIANTS.items():
                others[name] = Torch(ours.tagger, train, test, config, args.tag_batch, optimizer, times_tagging=name == "pytorch")
        except ImportError:
            torch = None
        training, tagging = paired_rounds(train, test, others, args.rounds)
        same = ours.same_tags()
    peak = max(peak, gemm_rate())  # the reference rates, again after the rounds: the larger of the two
    with threadpool_limits(limits=2, user_api="blas"):
        peak2 = max(peak2, gemm_rate())
    row("numpy float32 2048x2048 matrix product, 1 thread", f"{peak / 1e9:.1f} GFLOP/s",
        "the reference rate, same threads as postagger; the larger of two measures, before and after the rounds")
    row("numpy float32 2048x2048 matrix product, 2 threads", f"{peak2 / 1e9:.1f} GFLOP/s", "the whole machine; the same way")

    def rate(rounds, name) -> float:
        return float(np.median([r[name] for r in rounds]))

    def ratio(rounds, a, b, goal: int | None) -> None:
        per_round = [r[a] / r[b] for r in rounds]
        what = "training" if rounds is training else "tagging"
        aim = f"goal >= {goal}x" if goal else "for reference"
        row(f"ratio, {what}: {a} / {b}", f"{np.median(per_round):.2f}x",
            f"{aim}; rounds ranged {min(per_round):.2f}-{max(per_round):.2f}x")

    n = f"median of {args.rounds} round{'s' if args.rounds != 1 else ''}"
    row("NLTK PerceptronTagger: one training iteration", f"{rate(training, 'perceptron'):,.0f} tok/s", f"treebank train; {n}")
    row("NLTK PerceptronTagger: tag_sents", f"{rate(tagging, 'perceptron'):,.0f} tok/s",
        f"treebank test; in every tagging row, each round's median of {TAG_CALLS} calls, the taggers taking turns")
    o_train = rate(training, "postagger")
    processes = "2 processes (the right-to-left lane in the second)" if lanes.worthwhile() else "1 process"
    row("postagger: one training epoch, default network", f"{o_train:,.0f} tok/s",
        f"batch {config.batch_size}, 1 BLAS thread, {processes}, the second epoch of a fresh training")
    directions = "the two directions in two threads" if ours.warm._lane_runner() else "the directions one after the other"
    row("postagger: tag_sents, default network", f"{rate(tagging, 'postagger'):,.0f} tok/s",
        f"loading excluded, cold word cache; 1 BLAS thread, {directions}")
    row("postagger: tag_sents again, warm word cache", f"{rate(tagging, 'postagger warm'):,.0f} tok/s",
        "for reference: each word's input ids and input pre-activation already known")
    ratio(training, "postagger", "perceptron", 3)
    ratio(tagging, "postagger", "perceptron", 10)
    arch, n_tags = model.architecture(ours.tagger.params_), len(ours.tagger.tags_)
    per_token = flops_per_token(arch, n_tags)
    n_params = sum(v.size for v in ours.tagger.params_.values())
    row("postagger: training FLOP rate, whole steps", f"{o_train * per_token / 1e9:.1f} GFLOP/s",
        f"the epoch's tokens/s x {per_token:,} FLOP/token of forward+backward products; {n_params:,} parameters")
    two = lanes.worthwhile()  # training runs in two processes, on both cores
    used, unused = (peak2, peak) if two else (peak, peak2)
    threads = {1: "1 thread", 2: "2 threads"}
    alone = forward_backward_rate(ours.tagger, train, config.batch_size) * per_token
    row("postagger: forward+backward FLOP rate", f"{alone / 1e9:.1f} GFLOP/s",
        "loss and all gradients alone, no optimizer step, 1 process on 1 BLAS thread, one epoch's batches")
    row("forward+backward FLOP rate / numpy's large-product rate, 1 thread", f"{100 * alone / peak:.1f} %", "aim >= 30 %")
    row(f"whole training steps' FLOP rate / large-product rate, {threads[1 + two]}", f"{100 * o_train * per_token / used:.1f} %",
        f"for reference: optimizer and batching included, on the cores training uses ({processes.split(' (')[0]})")
    row(f"whole training steps' FLOP rate / large-product rate, {threads[2 - two]}", f"{100 * o_train * per_token / unused:.1f} %",
        "for reference")
    core = dense_core_rate(model.architecture(ours.tagger.params_), len(ours.tagger.tags_), N=config.batch_size)
    row("dense core alone (recurrences + output layer)", f"{core / 1e9:.1f} GFLOP/s", f"{100 * core / peak:.1f} % of the large-product rate")
    row("batched tagging equals one sentence at a time", "yes" if same else "NO", "treebank test")
    if torch is None:
        row("PyTorch rows", "skipped", "torch is not installed (pip install torch==2.13.0)")
    else:
        version = torch.__version__
        torch_per_token, torch_params = flops_per_token_torch(arch, n_tags), others["pytorch"].n_params
        row(f"PyTorch {version}: the same network's size", f"{torch_params:,} parameters",
            f"{torch_per_token:,} FLOP/token: nn.RNN's W_ih (H, H) per direction adds 6DH^2; its embeddings (V_g, H) serve both directions")
        row(f"PyTorch {version}: training steps, Adam", f"{rate(training, 'pytorch'):,.0f} tok/s",
            f"batch {config.batch_size}, 2 threads, one pass over the same batches, torch.optim.Adam as it comes (dense)")
        row(f"PyTorch {version}: training steps, fused Adam", f"{rate(training, 'pytorch fused'):,.0f} tok/s",
            "the same with Adam(fused=True): one kernel over all the weights")
        row(f"PyTorch {version}: training steps, fused Adam, no clipping", f"{rate(training, 'pytorch fused no clip'):,.0f} tok/s",
            "the same without clip_grad_norm_: the issue lists cross-entropy, backward and an Adam step")
        row(f"PyTorch {version}: training steps, lazy Adam", f"{rate(training, 'pytorch lazy'):,.0f} tok/s",
            "the same with sparse embedding gradients and SparseAdam, as ours is lazy")
        fastest = max(TORCH_VARIANTS, key=lambda name: rate(training, name))
        row(f"PyTorch {version}: training FLOP rate, fastest", f"{rate(training, fastest) * torch_per_token / 1e9:.1f} GFLOP/s",
            f"{fastest}; ours {o_train * per_token / 1e9:.1f} GFLOP/s")
        row(f"PyTorch {version}: tagging, same network", f"{rate(tagging, 'pytorch'):,.0f} tok/s",
            f"packed batches of {args.tag_batch}, 2 threads, inference_mode, words to each sentence's (word, tag) pairs as tag_sents, with the same cold encoding")
        row(f"PyTorch {version}: tagging, network only", f"{rate(tagging, 'pytorch network'):,.0f} tok/s", "ids already encoded and packed (for reference)")
        for round_ in training:  # each round against the fastest PyTorch of that round
            round_["fastest pytorch"] = max(round_[name] for name in TORCH_VARIANTS)
        ratio(training, "postagger", "fastest pytorch", 3)
        for name in TORCH_VARIANTS:
            ratio(training, "postagger", name, None)
        ratio(tagging, "postagger", "pytorch", 3)
        ratio(tagging, "postagger warm", "pytorch network", None)
    if not args.skip_memory:
        main_gib, worker_gib, tokens = peak_memory_on_brown()
        row("postagger: peak RSS, one epoch on all of brown", f"{main_gib + worker_gib:.2f} GiB",
            f"{tokens:,} tokens; goal < 2 GiB; {main_gib:.2f} GiB + {worker_gib:.2f} GiB of the second process")

    command = "python bench/speed.py " + " ".join(sys.argv[1:])
    text = "\n".join([
        "# Speed: postagger, NLTK's perceptron and PyTorch, measured in one run",
        "",
        f"Made by `{command.strip()}` on {platform.machine()}, {os.cpu_count()} cores, "
        f"{time.strftime('%Y-%m-%d')}, numpy {np.__version__}. This machine's speed drifts by tens "
        f"of percent within a minute, so figures are taken in {args.rounds} rounds of paired "
        "measurements: in training, between two iterations of one perceptron training, our "
        "network trains once (the second epoch of a fresh training) and PyTorch makes one pass "
        "over the same batches with each of its four optimizers, and the perceptron's next "
        f"iteration is timed; in tagging, the taggers take turns tagging the test split "
        f"{TAG_CALLS} times a round, and the round keeps each one's median. Rates are medians over the rounds; a ratio "
        "is the median of the rounds' ratios, with their range.",
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
