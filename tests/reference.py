"""An independent implementation of the tagging network, written the plain way.

One sentence at a time, one timestep at a time, explicit one-hot vectors multiplied by dense
matrices, each cell's step and its backward written out by hand. It shares no code with
postagger, so that comparing the two checks the vectorised, lane-major, row-lookup version in
postagger.model.
"""

from __future__ import annotations

import numpy as np


def one_hot(index: int, size: int) -> np.ndarray:
    v = np.zeros(size)
    v[index] = 1.0
    return v


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


# ------------------------------------------------------------------ one step of each cell
# step(a, state, W) -> new state, cache; back(dh, dc, cache) -> da, dh_prev, dc_prev, dW
# a is the input pre-activation (input product plus bias); state is (h, c), c unused by rnn/gru.


def rnn_step(a, state, W):
    h_prev, _ = state
    h = np.tanh(a + h_prev @ W)
    return (h, np.zeros_like(h)), (h_prev, h)


def rnn_back(dh, dc, cache, W):
    h_prev, h = cache
    da = dh * (1 - h**2)
    return da, W @ da, np.zeros_like(dc), np.outer(h_prev, da)


def lstm_step(a, state, W):
    h_prev, c_prev = state
    H = len(h_prev)
    z = a + h_prev @ W
    i, f, g, o = sigmoid(z[:H]), sigmoid(z[H : 2 * H]), np.tanh(z[2 * H : 3 * H]), sigmoid(z[3 * H :])
    c = f * c_prev + i * g
    h = o * np.tanh(c)
    return (h, c), (h_prev, c_prev, i, f, g, o, c)


def lstm_back(dh, dc, cache, W):
    h_prev, c_prev, i, f, g, o, c = cache
    do = dh * np.tanh(c)
    dc = dc + dh * o * (1 - np.tanh(c) ** 2)
    di, df, dg = dc * g, dc * c_prev, dc * i
    dz = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g**2), do * o * (1 - o)])
    return dz, W @ dz, dc * f, np.outer(h_prev, dz)


def gru_step(a, state, W):
    h_prev, _ = state
    H = len(h_prev)
    p = h_prev @ W
    r, z = sigmoid(a[:H] + p[:H]), sigmoid(a[H : 2 * H] + p[H : 2 * H])
    n = np.tanh(a[2 * H :] + r * p[2 * H :])
    h = (1 - z) * n + z * h_prev
    return (h, np.zeros_like(h)), (h_prev, p, r, z, n)


def gru_back(dh, dc, cache, W):
    h_prev, p, r, z, n = cache
    H = len(h_prev)
    dn = dh * (1 - z)
    dz = dh * (h_prev - n)
    dan = dn * (1 - n**2)
    dr = dan * p[2 * H :]
    dar, daz = dr * r * (1 - r), dz * z * (1 - z)
    da = np.concatenate([dar, daz, dan])
    dp = np.concatenate([dar, daz, dan * r])
    return da, W @ dp + dh * z, np.zeros_like(dc), np.outer(h_prev, dp)


CELLS = {"rnn": (rnn_step, rnn_back, ("Wxh", "Whh", "bh")), "lstm": (lstm_step, lstm_back, ("Wx", "Wh", "b")),
         "gru": (gru_step, gru_back, ("Wx", "Wh", "b"))}


def _structure(params):
    if "Whh" in params:
        cell = "rnn"
    else:
        cell = "lstm" if params["Wh"].shape[1] == 4 * params["Wh"].shape[0] else "gru"
    wx, wh, _ = CELLS[cell][2]
    directions = 2 if f"{wh}_b" in params else 1
    layers = 1
    while f"{wh}{layers + 1}" in params:
        layers += 1
    prefix = f"{wx}_"
    groups = ["word"] + sorted(k[len(prefix):] for k in params if k.startswith(prefix))
    return cell, directions, layers, groups


def lane_block(table, d, W):
    """Direction d's columns of an input table (a view); W is that direction's recurrent weight."""
    width = W.shape[1]
    return table[:, d * width : (d + 1) * width]


def _key(base: str, d: int) -> str:
    return base + ("_b" if d else "")


def loss_and_grads(params, words, tags, mask, features=None):
    """Mean cross-entropy over unmasked tokens and its gradient, by plain loops."""
    features = features or {}
    cell, D, L, groups = _structure(params)
    step, back, (WX, WH, B) = CELLS[cell]
    table = lambda g: WX if g == "word" else f"{WX}_{g}"
    grads = {k: np.zeros_like(v, dtype=float) for k, v in params.items()}
    total = int(mask.sum())
    loss = 0.0
    for n in range(words.shape[0]):
        length = int(mask[n].sum())
        ids = {"word": words[n, :length], **{g: f[n, :length] for g, f in features.items()}}
        y = tags[n, :length]
        inputs_per_layer, caches_per_layer = [], []
        below = None  # the previous layer's concatenated states, per time step
        for layer in range(1, L + 1):
            tag = "" if layer == 1 else str(layer)
            caches = []
            states = [[None] * D for _ in range(length)]
            for d in range(D):
                W = params[_key(WH + tag, d)]
                H = W.shape[0]
                order = range(length) if d == 0 else range(length - 1, -1, -1)
                state = (np.zeros(H), np.zeros(H))
                lane = {}
                for t in order:
                    if layer == 1:  # each input table holds every direction's block of columns
                        a = sum(one_hot(ids[g][t], params[table(g)].shape[0]) @ lane_block(params[table(g)], d, W) for g in groups)
                    else:
                        a = below[t] @ params[_key(WX + tag, d)]
                    state, cache = step(a + params[_key(B + tag, d)], state, W)
                    lane[t] = cache
                    states[t][d] = state[0]
                caches.append(lane)
            inputs_per_layer.append(below)
            caches_per_layer.append(caches)
            below = [np.concatenate(states[t]) for t in range(length)]
        dstates = []
        for t in range(length):
            z = below[t] @ params["Why"] + params["by"]
            p = np.exp(z - z.max())
            p /= p.sum()
            loss -= np.log(p[y[t]]) / total
            dz = (p - one_hot(y[t], len(p))) / total
            grads["Why"] += np.outer(below[t], dz)
            grads["by"] += dz
            dstates.append(params["Why"] @ dz)
        for layer in range(L, 0, -1):
            tag = "" if layer == 1 else str(layer)
            dbelow = [np.zeros(len(inputs_per_layer[layer - 1][0])) for _ in range(length)] if layer > 1 else None
            for d in range(D):
                W = params[_key(WH + tag, d)]
                H = W.shape[0]
                order = list(range(length) if d == 0 else range(length - 1, -1, -1))
                dh_next, dc_next = np.zeros(H), np.zeros(H)
                for t in reversed(order):
                    dh = dstates[t][d * H : (d + 1) * H] + dh_next
                    da, dh_next, dc_next, dW = back(dh, dc_next, caches_per_layer[layer - 1][d][t], W)
                    grads[_key(WH + tag, d)] += dW
                    grads[_key(B + tag, d)] += da
                    if layer == 1:
                        for g in groups:
                            lane_block(grads[table(g)], d, W)[...] += np.outer(one_hot(ids[g][t], params[table(g)].shape[0]), da)
                    else:
                        x = inputs_per_layer[layer - 1][t]
                        grads[_key(WX + tag, d)] += np.outer(x, da)
                        dbelow[t] += params[_key(WX + tag, d)] @ da
            dstates = dbelow
    return loss, grads


# ------------------------------------------------------------------ input groups, one word at a time


def group_string(group: str, word: str) -> str:
    """The string a word contributes to an input group, by the groups' definitions (the per-word
    normalise and shape of postagger.vocab, whose column versions these check)."""
    from postagger.vocab import normalise, shape_by_characters

    low = normalise(word)
    if group in ("word", "lower", "shape"):
        return {"word": word, "lower": low, "shape": shape_by_characters(word)}[group]
    kind, n = group[:3], int(group[3:])
    return low[-n:] if kind == "suf" else low[:n]
