#!/usr/bin/env python3
# Test vectors for docs/math.md §2.8 and §2.9 (attention logit shaping and normalisations) on the
# §2.5 example (d = 2, four keys, one head, standard scale 1/√2, not causal and causal): softcap,
# a sink, smooth softmax, relu² / n and the l2 normalisation. Prints, per variant and row, the
# weights P, the output O and the saved row statistic L ("logsumexp": P = φ(s)·e^{−L}), and the
# gradients of loss = Σ O ∘ G (G below) with respect to q, k, v and the sink by mpmath's numerical
# differentiation at 40 digits (the sink's also against its closed form −Σ_i e^{z − L_i} G_i·O_i).
# Checked by: tests/attention/attention_logits_test.cpp, tests/js/attention.test.mjs.
#
# Run by hand, not by CI:   python3 tests/vectors/t_attn_logits.py
# It needs only mpmath (Debian: apt-get install python3-mpmath; or pip install mpmath).

try:
    import mpmath  # noqa: F401
except ImportError:
    raise SystemExit('t_attn_logits.py: needs mpmath (apt-get install python3-mpmath, or pip install mpmath)')

from mpmath import mp, mpf, exp, log, sqrt, tanh, diff

mp.dps = 40


def f(x, n=10):
    return mp.nstr(x, n)


Q = [[1, 0], [0, 1], [1, 1], [0.5, -1]]
K = [[1, 0], [0, 1], [-1, 0], [1, 1]]
V = [[1, 0], [0, 1], [1, 1], [2, -1]]
G = [[0.3, -0.2], [1, 0.5], [-0.7, 0.4], [0.2, 0.9]]  # ∂loss/∂O
Q, K, V, G = ([[mpf(a) for a in r] for r in M] for M in (Q, K, V, G))
D = 2
C = 1 / sqrt(D)


def forward(Q, K, V, variant, causal, sink):
    """O, P, L for a variant: dict with cap (None or c), normalize, sink (None or z)."""
    cap, normalize = variant['cap'], variant['normalize']
    O, P, L = [], [], []
    for i, q in enumerate(Q):
        seen = list(range(i + 1)) if causal else list(range(len(K)))
        x = [C * sum(q[a] * K[j][a] for a in range(D)) for j in seen]
        s = [cap * tanh(t / cap) for t in x] if cap else x
        if normalize == 'relu2':
            n = len(seen)
            p = [max(t, 0) ** 2 / n for t in s]
            l = log(n)
        elif normalize == 'l2':
            norm = sqrt(sum(exp(2 * t) for t in s))
            p = [exp(t) / norm for t in s]
            l = log(norm)
        else:
            den = sum(exp(t) for t in s) + (exp(sink) if sink is not None else 0)
            p = [exp(t) / den for t in s]
            l = log(den)
        P.append(p)
        L.append(l)
        O.append([sum(p[t] * V[j][c] for t, j in enumerate(seen)) for c in range(len(V[0]))])
    return O, P, L


def loss(Q, K, V, variant, causal, sink):
    O, _, _ = forward(Q, K, V, variant, causal, sink)
    return sum(O[i][c] * G[i][c] for i in range(len(O)) for c in range(len(O[0])))


def gradient(M, name, variant, causal, sink):
    out = []
    for r in range(len(M)):
        row = []
        for c in range(len(M[0])):
            def fun(t, r=r, c=c):
                X = [list(x) for x in M]
                X[r][c] = t
                args = {'Q': Q, 'K': K, 'V': V}
                args[name] = X
                return loss(args['Q'], args['K'], args['V'], variant, causal, sink)
            row.append(diff(fun, M[r][c]))
        out.append(row)
    return out


VARIANTS = [
    ('softcap 0.5', {'cap': mpf('0.5'), 'normalize': 'softmax'}, None),
    ('sink 0.7', {'cap': None, 'normalize': 'softmax'}, mpf('0.7')),
    ('smooth softmax', {'cap': None, 'normalize': 'softmax'}, mpf(0)),
    ('relu2', {'cap': None, 'normalize': 'relu2'}, None),
    ('l2', {'cap': None, 'normalize': 'l2'}, None),
    ('l2 softcap 0.5', {'cap': mpf('0.5'), 'normalize': 'l2'}, None),
    ('relu2 softcap 0.5', {'cap': mpf('0.5'), 'normalize': 'relu2'}, None),
]

for name, variant, sink in VARIANTS:
    for causal in (False, True):
        O, P, L = forward(Q, K, V, variant, causal, sink)
        print(f'{name}{" causal" if causal else ""}')
        for i in range(4):
            print('  row', i, 'P=', [f(t) for t in P[i]], ' O=', [f(t) for t in O[i]], ' L=', f(L[i]))
        print('  loss =', f(loss(Q, K, V, variant, causal, sink), 12))
        for M, label in ((Q, 'Q'), (K, 'K'), (V, 'V')):
            g = gradient(M, label, variant, causal, sink)
            print(f'  d{label} =', [[f(t) for t in r] for r in g])
        if sink is not None:
            d_sink = diff(lambda z: loss(Q, K, V, variant, causal, z), sink)
            # analytic: −Σ_i e^{z − L_i} D_i, D_i = G_i·O_i
            analytic = -sum(exp(sink - L[i]) * sum(G[i][c] * O[i][c] for c in range(2)) for i in range(4))
            assert abs(d_sink - analytic) < mpf(10) ** -25, (d_sink, analytic)
            print('  dSink =', f(d_sink, 12))
