"""An independent implementation of the tagging network, written the plain way.

One sentence at a time, one timestep at a time, explicit one-hot vectors multiplied by dense
matrices, forward and backward by hand. It shares no code with postagger, so that comparing the
two checks the vectorised, lane-major, row-lookup version in postagger.model.
"""

from __future__ import annotations

import numpy as np


def one_hot(index: int, size: int) -> np.ndarray:
    v = np.zeros(size)
    v[index] = 1.0
    return v


def _names(params):
    directions = 2 if "Whh_b" in params else 1
    layers = 1
    while f"Whh{layers + 1}" in params:
        layers += 1
    groups = ["word"] + sorted(k[4:] for k in params if k.startswith("Wxh_") and not k.endswith("_b"))
    return directions, layers, groups


def _key(base: str, d: int) -> str:
    return base + ("_b" if d else "")


def _table(group: str) -> str:
    return "Wxh" if group == "word" else f"Wxh_{group}"


def loss_and_grads(params, words, tags, mask, features=None):
    """Mean cross-entropy over unmasked tokens and its gradient, by plain loops."""
    features = features or {}
    D, L, groups = _names(params)
    grads = {k: np.zeros_like(v, dtype=float) for k, v in params.items()}
    total = int(mask.sum())
    loss = 0.0
    for n in range(words.shape[0]):
        length = int(mask[n].sum())
        ids = {"word": words[n, :length], **{g: f[n, :length] for g, f in features.items()}}
        y = tags[n, :length]
        # forward, layer by layer; states[l][t] is the (D*H,) output of layer l at time t
        inputs_per_layer, hidden = [], []
        below = None
        for layer in range(1, L + 1):
            tag = "" if layer == 1 else str(layer)
            hs = []
            for d in range(D):
                order = range(length) if d == 0 else range(length - 1, -1, -1)
                h = np.zeros(params[_key("Whh" + tag, d)].shape[0])
                h_of = {}
                for t in order:
                    if layer == 1:
                        a = sum(one_hot(ids[g][t], params[_key(_table(g), d)].shape[0]) @ params[_key(_table(g), d)] for g in groups)
                    else:
                        a = below[t] @ params[_key("Wxh" + tag, d)]
                    a = a + h @ params[_key("Whh" + tag, d)] + params[_key("bh" + tag, d)]
                    h = np.tanh(a)
                    h_of[t] = h
                hs.append(h_of)
            states = [np.concatenate([hs[d][t] for d in range(D)]) for t in range(length)]
            inputs_per_layer.append(below)
            hidden.append(hs)
            below = states
        # output and loss
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
        # backward through the layers, from the top
        for layer in range(L, 0, -1):
            tag = "" if layer == 1 else str(layer)
            hs = hidden[layer - 1]
            H = params["Whh" + tag].shape[0]
            dbelow = [np.zeros(len(inputs_per_layer[layer - 1][0])) for _ in range(length)] if layer > 1 else None
            for d in range(D):
                Whh = params[_key("Whh" + tag, d)]
                order = list(range(length) if d == 0 else range(length - 1, -1, -1))
                dh_next = np.zeros(H)
                for i in reversed(range(len(order))):
                    t = order[i]
                    dh = dstates[t][d * H : (d + 1) * H] + dh_next
                    da = dh * (1 - hs[d][t] ** 2)
                    h_prev = hs[d][order[i - 1]] if i > 0 else np.zeros(H)
                    grads[_key("Whh" + tag, d)] += np.outer(h_prev, da)
                    grads[_key("bh" + tag, d)] += da
                    if layer == 1:
                        for g in groups:
                            table = _key(_table(g), d)
                            grads[table] += np.outer(one_hot(ids[g][t], params[table].shape[0]), da)
                    else:
                        x = inputs_per_layer[layer - 1][t]
                        grads[_key("Wxh" + tag, d)] += np.outer(x, da)
                        dbelow[t] += params[_key("Wxh" + tag, d)] @ da
                    dh_next = Whh @ da
            dstates = dbelow
    return loss, grads
