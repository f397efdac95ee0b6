#!/usr/bin/env python
"""deepff against the strongest CPU peers, in one process (issue 17).

Peers: PyTorch eager, ``torch.compile`` (the whole train step compiled), JAX with one
``jax.jit``'ed train step and optax, scikit-learn, and ONNX Runtime for inference on
deepff's own export (``deepff.io.onnx.export_onnx``). Method of ``bench.py``: one process,
the same data and weights layout (W stored (out, in) everywhere), a warm-up call of every
library, interleaved rounds in rotated order with a garbage collection before each call,
outside-load detection, and ratios that are medians of per-round ratios. Compile and
first-call costs (what a user pays once per process or per shape) and import times (in fresh
processes) are reported on their own, never mixed into the steady-state times.

    python benchmarks/bench_peers.py                       # everything (~10-15 min on 2 cores)
    python benchmarks/bench_peers.py --quick --cases 3,5   # smoke run of a subset
    python benchmarks/bench_peers.py --compile 1,3         # torch.compile only on these cases
    python benchmarks/bench_peers.py --json peers.json

A library that cannot be imported leaves its columns empty. The script does not change the
environment; `make bench` runs it with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset, so that
NumPy's OpenBLAS picks the machine's own kernels (the header prints which one it got).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench as B

dff, torch, MLPClassifier = B.dff, B.torch, B.MLPClassifier
now, median = B.now, B.median

try:
    import jax
    import jax.numpy as jnp
    import optax

    jax.config.update("jax_enable_x64", True)  # the float64 cases; float32 arrays stay float32
    JAX_ERR = None
except Exception as exc:  # pragma: no cover - reported in the header
    jax = None
    JAX_ERR = repr(exc)

try:
    import onnxruntime as ort
except Exception:  # pragma: no cover
    ort = None

dff0 = None  # --baseline: another deepff engine, imported as ``deepff_base``


def import_baseline(src_dir):
    """Import the deepff package under ``src_dir`` as ``deepff_base`` (the engine imports
    itself relatively only), so that before and after run in the same rounds."""
    import importlib.util

    init = Path(src_dir).resolve() / "deepff" / "__init__.py"
    module_spec = importlib.util.spec_from_file_location(
        "deepff_base", init, submodule_search_locations=[str(init.parent)]
    )
    module = importlib.util.module_from_spec(module_spec)
    sys.modules["deepff_base"] = module
    module_spec.loader.exec_module(module)
    return module


CAT = (12288, 20, 7, 5, 1)
C1 = (784, 256, 128, 10)
# name: the network, its data and its training; "m" examples, one epoch (case 4: iters steps)
CASES = {
    "1": dict(sizes=C1, batch=128, m=60_000),
    "2": dict(sizes=(784, 1024, 1024, 10), batch=256, m=30_000),
    "3": dict(sizes=(64, 32, 10), batch=32, m=20_000),
    "4-f64": dict(sizes=CAT, batch=None, m=209, opt="sgd", lr=0.0075, iters=100, dtype="float64"),
    "4-f32": dict(sizes=CAT, batch=None, m=209, opt="sgd", lr=0.0075, iters=100),
    "reg": dict(sizes=C1, batch=128, m=20_000, reg=True),
    "tanh": dict(sizes=C1, batch=128, m=20_000, act="tanh"),
    "sigmoid": dict(sizes=C1, batch=128, m=20_000, act="sigmoid"),
    "momentum": dict(sizes=C1, batch=128, m=20_000, opt="momentum", lr=0.01),
    "rmsprop": dict(sizes=C1, batch=128, m=20_000, opt="rmsprop"),
    "f64": dict(sizes=C1, batch=128, m=20_000, dtype="float64"),
    "gelu": dict(sizes=C1, batch=128, m=20_000, act="gelu"),
}
LABELS = {
    "1": "1 784-256-128-10 b128",
    "2": "2 784-1024-1024-10 b256",
    "3": "3 64-32-10 b32",
    "4-f64": "4 cat 12288-..-1 f64",
    "4-f32": "4 cat 12288-..-1 f32",
    "reg": "BN+dropout+L2 (case 1)",
    "tanh": "tanh hidden (case 1)",
    "sigmoid": "sigmoid hidden (case 1)",
    "momentum": "Momentum (case 1)",
    "rmsprop": "RMSProp (case 1)",
    "f64": "float64 (case 1)",
    "gelu": "GELU hidden (case 1)",
    "5-1row": "5 predict_proba 1 row",
    "5-10k": "5 predict_proba 10k rows",
    "est-digits": "estimator fit, digits",
    "est-20k": "estimator fit, 20k x 50",
}
# Goals of issue 17: (peer or "best" or "floor", bound) pairs, deepff time / that.
NEW = [("torch", 0.6), ("jax", 1.0)]
GOALS = {
    "1": [("best", 0.8), ("floor", 1.25)],
    "2": [("best", 0.9), ("floor", 1.08)],
    "3": [("jax", 0.8)],
    "4-f64": [("jax", 0.9)],
    "4-f32": [("jax", 0.9)],
    **{k: NEW for k in ("reg", "tanh", "sigmoid", "momentum", "rmsprop", "f64", "gelu")},
    "5-1row": [("onnxrt", 1.0)],
    "5-10k": [("onnxrt", 0.9)],
    "est-digits": [("sklearn", 0.4)],
    "est-20k": [("sklearn", 0.4)],
}
PEERS = ("torch", "torchC", "jax", "sklearn", "onnxrt")
FIRST_FIT_GOAL = 0.2


def spec(key):
    c = dict(opt="adam", lr=1e-3, act="relu", dtype="float32", reg=False, iters=1)
    c.update(CASES[key])
    return c


def init_weights(sizes, dtype, seed=0):
    """He-normal W (out, in) and zero b, the same start for every library."""
    rng = np.random.default_rng(seed)
    return [
        (
            (rng.standard_normal((b, a)) * np.sqrt(2.0 / a)).astype(dtype),
            np.zeros(b, dtype),
        )
        for a, b in itertools.pairwise(sizes)
    ]


# --------------------------------------------------------------------------- deepff


def dff_net(c, seed=0, lib=None):
    dff = lib or globals()["dff"]
    binary = c["sizes"][-1] == 1
    l2 = 1e-4 if c["reg"] else 0.0
    layers = []
    for n in c["sizes"][1:-1]:
        layers.append(dff.Dense(n, activation=c["act"], batch_norm=c["reg"], l2=l2))
        if c["reg"]:
            layers.append(dff.Dropout(0.2))
    layers.append(dff.Dense(c["sizes"][-1], activation="sigmoid" if binary else "softmax", l2=l2))
    opt = {
        "adam": lambda: dff.Adam(learning_rate=c["lr"]),
        "sgd": lambda: dff.SGD(c["lr"]),
        "momentum": lambda: dff.Momentum(c["lr"], beta=0.9),
        "rmsprop": lambda: dff.RMSProp(c["lr"], beta=0.9),
    }[c["opt"]]()
    loss = "binary_crossentropy" if binary else "categorical_crossentropy"
    return dff.Network(layers, loss=loss, optimizer=opt, seed=seed, dtype=c["dtype"])


def dff_runner(c, X, y, lib=None):
    net = dff_net(c, lib=lib)
    epochs = c["iters"] if c["batch"] is None else 1
    return lambda: net.fit(
        X, y, epochs=epochs, batch_size=c["batch"], shuffle=c["batch"] is not None, verbose=0
    )


# --------------------------------------------------------------------------- torch


def torch_model(c):
    acts = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid}
    acts["gelu"] = torch.nn.GELU
    layers, sizes = [], c["sizes"]
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        hidden = i < len(sizes) - 2
        layers.append(torch.nn.Linear(a, b, bias=not (hidden and c["reg"])))
        if hidden:
            if c["reg"]:
                layers.append(torch.nn.BatchNorm1d(b))
            layers.append(acts[c["act"]]())
            if c["reg"]:
                layers.append(torch.nn.Dropout(0.2))
    model = torch.nn.Sequential(*layers)
    if c["dtype"] == "float64":
        model = model.double()
    return model


class TorchTrainer:
    """The idiomatic eager loop (bench.py's), generalized; ``compiled`` wraps the whole step
    (zero_grad, forward, loss, backward, optimizer step) in ``torch.compile``."""

    def __init__(self, c, X, y, compiled=False, seed=0):
        torch.manual_seed(seed)
        self.model = model = torch_model(c)
        model.train()
        weights = [p for n, p in model.named_parameters() if n.endswith("weight") and p.ndim == 2]
        others = [p for n, p in model.named_parameters() if not any(p is w for w in weights)]
        # deepff's L2 adds lambda/m W to dW (W only): coupled weight decay lambda/m on W
        wd = 1e-4 / c["batch"] if c["reg"] else 0.0
        groups = [{"params": weights, "weight_decay": wd}, {"params": others}]
        lr = c["lr"]
        self.opt = {
            "adam": lambda: torch.optim.Adam(groups, lr=lr),
            "sgd": lambda: torch.optim.SGD(groups, lr=lr),
            "momentum": lambda: torch.optim.SGD(groups, lr=lr, momentum=0.9, dampening=0.9),
            "rmsprop": lambda: torch.optim.RMSprop(groups, lr=lr, alpha=0.9, eps=1e-8),
        }[c["opt"]]()
        self.X = torch.from_numpy(X)
        binary = c["sizes"][-1] == 1
        self.y = torch.from_numpy(y.astype(X.dtype).reshape(-1, 1) if binary else y)
        self.lossf = torch.nn.BCEWithLogitsLoss() if binary else torch.nn.CrossEntropyLoss()
        self.batch, self.iters = c["batch"], c["iters"]
        self.gen = torch.Generator().manual_seed(seed)
        self.step = torch.compile(self._step) if compiled else self._step

    def _step(self, xb, yb):
        self.opt.zero_grad(set_to_none=True)
        loss = self.lossf(self.model(xb), yb)
        loss.backward()
        self.opt.step()
        return loss.detach()

    def epoch(self):
        X, y, m = self.X, self.y, self.X.shape[0]
        if self.batch is None:
            for _ in range(self.iters):
                self.step(X, y)
            return
        perm = torch.randperm(m, generator=self.gen)
        for i in range(0, m, self.batch):
            idx = perm[i : i + self.batch]
            self.step(X[idx], y[idx])


# --------------------------------------------------------------------------- JAX


class JaxTrainer:
    """One ``jax.jit``'ed train step (forward, loss, grad, optax update), batches gathered
    inside it from the device copy of X by an index vector; the loss is not synchronized
    per step, the epoch ends with ``block_until_ready``."""

    def __init__(self, c, X, y, seed=0):
        self.c, dtype = c, np.dtype(c["dtype"])
        sizes = c["sizes"]
        params = {"W": [], "b": [], "g": [], "be": []}
        for i, (W, b) in enumerate(init_weights(sizes, dtype, seed)):
            params["W"].append(jnp.asarray(W))
            bn = c["reg"] and i < len(sizes) - 2
            params["b"].append(jnp.asarray(b) if not bn else jnp.zeros(0, dtype))
            params["g"].append(jnp.ones(b.shape, dtype) if bn else jnp.zeros(0, dtype))
            params["be"].append(jnp.zeros(b.shape, dtype) if bn else jnp.zeros(0, dtype))
        self.params = params
        self.stats = [
            (jnp.zeros(n, dtype), jnp.ones(n, dtype)) if c["reg"] else () for n in sizes[1:-1]
        ]
        self.tx = {
            "adam": lambda: optax.adam(c["lr"]),
            "sgd": lambda: optax.sgd(c["lr"]),
            "momentum": lambda: optax.sgd(c["lr"], momentum=0.9),
            "rmsprop": lambda: optax.rmsprop(c["lr"], decay=0.9, eps=1e-8),
        }[c["opt"]]()
        self.opt_state = self.tx.init(params)
        self.X = jax.device_put(X)
        binary = sizes[-1] == 1
        self.y = jax.device_put(y.astype(dtype).reshape(-1, 1) if binary else y.astype(np.int32))
        self.key = jax.random.PRNGKey(seed)
        self.rng = np.random.default_rng(seed)
        self.count = 0
        self._step = jax.jit(self._make_step(binary))
        self._full = jax.jit(self._make_step(binary, full=True))
        self._predict = jax.jit(self._forward_probs)

    def _forward(self, params, stats, A, key, training):
        c = self.c
        act = {
            "relu": jax.nn.relu,
            "tanh": jnp.tanh,
            "sigmoid": jax.nn.sigmoid,
            "gelu": lambda z: jax.nn.gelu(z, approximate=False),
        }[c["act"]]
        L = len(params["W"])
        new_stats = []
        for i in range(L):
            Z = A @ params["W"][i].T
            if i == L - 1:
                return (Z + params["b"][i]), new_stats
            if c["reg"]:
                if training:
                    mean, var = Z.mean(0), Z.var(0)
                    rm, rv = stats[i]
                    new_stats.append((0.9 * rm + 0.1 * mean, 0.9 * rv + 0.1 * var))
                else:
                    mean, var = stats[i]
                Z = params["g"][i] * (Z - mean) / jnp.sqrt(var + 1e-5) + params["be"][i]
            else:
                Z = Z + params["b"][i]
            A = act(Z)
            if c["reg"] and training:
                keep = jax.random.bernoulli(jax.random.fold_in(key, i), 0.8, A.shape)
                A = jnp.where(keep, A / 0.8, 0)
        raise AssertionError

    def _make_step(self, binary, full=False):
        c = self.c

        def loss_fn(params, stats, xb, yb, key):
            logits, new_stats = self._forward(params, stats, xb, key, True)
            if binary:
                loss = optax.sigmoid_binary_cross_entropy(logits, yb).mean()
            else:
                loss = optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()
            if c["reg"]:
                loss += 1e-4 / (2 * xb.shape[0]) * sum(jnp.sum(W * W) for W in params["W"])
            return loss, new_stats

        def step(params, opt_state, stats, X, y, idx, count):
            key = jax.random.fold_in(self.key, count)
            xb, yb = (X, y) if full else (X[idx], y[idx])
            (loss, new_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(
                params, stats, xb, yb, key
            )
            updates, opt_state = self.tx.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state, new_stats or stats, loss

        return step

    def _forward_probs(self, params, stats, X):
        logits, _ = self._forward(params, stats, X, None, False)
        return jax.nn.sigmoid(logits) if logits.shape[1] == 1 else jax.nn.softmax(logits)

    def epoch(self):
        m, b = self.X.shape[0], self.c["batch"]
        p, s, st = self.params, self.opt_state, self.stats
        if b is None:
            for _ in range(self.c["iters"]):
                self.count += 1
                p, s, st, _loss = self._full(p, s, st, self.X, self.y, None, np.int32(self.count))
        else:
            perm = self.rng.permutation(m).astype(np.int32)
            for i in range(0, m, b):
                self.count += 1
                idx, count = perm[i : i + b], np.int32(self.count)
                p, s, st, _loss = self._step(p, s, st, self.X, self.y, idx, count)
        jax.block_until_ready(p)
        self.params, self.opt_state, self.stats = p, s, st

    def predict_proba(self, X):
        return np.asarray(self._predict(self.params, self.stats, X))


# --------------------------------------------------------------------------- scikit-learn


def skl_runner(c, X, y):
    """MLPClassifier with the same network where it has one (no BatchNorm, dropout,
    RMSProp or GELU; its momentum is its own Nesterov-free velocity form)."""
    if MLPClassifier is None or c["reg"] or c["act"] == "gelu" or c["opt"] == "rmsprop":
        return None
    if c["batch"] is None:
        return None
    solver = "adam" if c["opt"] == "adam" else "sgd"
    clf = MLPClassifier(
        hidden_layer_sizes=tuple(c["sizes"][1:-1]),
        activation={"sigmoid": "logistic"}.get(c["act"], c["act"]),
        solver=solver,
        alpha=0.0,
        batch_size=c["batch"],
        learning_rate_init=c["lr"],
        momentum=0.9 if c["opt"] == "momentum" else 0.0,
        nesterovs_momentum=False,
        max_iter=1,
        shuffle=True,
        random_state=0,
    )
    return lambda: B.skl_fit(clf, X, y)


# --------------------------------------------------------------------------- cases


def first_call_costs(fns, log):
    """Time each library's first call (compile, kernel loading, caches): one per case."""
    first = {}
    for name, fn in fns.items():
        t = now()
        fn()
        first[name] = now() - t
        log(f"    first call {name}: {B.fmt_t(first[name])}")
    return first


def train_case(key, reps, compile_cases, log):
    c = spec(key)
    sizes = c["sizes"]
    X, y = B.make_data(c["m"], sizes[0], sizes[-1], seed=0)
    X = X.astype(c["dtype"])
    fns = {}
    if dff is not None:
        fns["deepff"] = dff_runner(c, X, y)
    if dff0 is not None:
        fns["deepff0"] = dff_runner(c, X, y, lib=dff0)
    if torch is not None:
        fns["torch"] = TorchTrainer(c, X, y).epoch
        if key in compile_cases:
            fns["torchC"] = TorchTrainer(c, X, y, compiled=True).epoch
    if jax is not None:
        fns["jax"] = JaxTrainer(c, X, y).epoch
    skl = skl_runner(c, X, y)
    if skl is not None:
        fns["sklearn"] = skl
    floor = B.GemmFloor(sizes, c["m"], c["batch"], dtype=np.dtype(c["dtype"]))
    fns["floor"] = (
        (lambda: [floor.epoch() for _ in range(c["iters"])]) if c["iters"] > 1 else (floor.epoch)
    )
    log(f"  case {key}: {LABELS[key]}, {c['m']} examples, {reps} rounds: {', '.join(fns)}")
    first = first_call_costs(fns, log)  # also the warm-up
    times = B.interleaved(fns, reps, warmup=0)
    return summarize(times, first)


def summarize(times, first=None):
    med = {k: median(v) for k, v in times.items()}
    res = {"times": times, "median_s": med, "ratio": {}}
    if first:
        res["first_call_s"] = first
        res["first_call_extra_s"] = {k: first[k] - med[k] for k in first}
    for mine, key in (("deepff", "ratio"), ("deepff0", "ratio0")):
        if mine in times:
            res.setdefault(key, {})
            for other in times:
                if other != mine:
                    rs = [a / b for a, b in zip(times[mine], times[other], strict=False)]
                    res[key][other] = median(rs)
    return res


def predict_case(reps, log):
    c = spec("1")
    Xtr, ytr = B.make_data(5000, C1[0], C1[-1], seed=1)
    Xbig, _ = B.make_data(10_000, C1[0], C1[-1], seed=2)
    x1 = np.ascontiguousarray(Xbig[:1])
    pp, first = {}, {}
    net = dff_net(c)
    net.fit(Xtr, ytr, epochs=1, batch_size=128, verbose=0)
    pp["deepff"] = net.predict_proba
    if dff0 is not None:
        net0 = dff_net(c, lib=dff0)
        net0.fit(Xtr, ytr, epochs=1, batch_size=128, verbose=0)
        pp["deepff0"] = net0.predict_proba
    if torch is not None:
        tt = TorchTrainer(c, Xtr, ytr)
        tt.epoch()
        tt.model.eval()

        def torch_proba(X, model=tt.model):
            with torch.no_grad():
                return torch.softmax(model(torch.from_numpy(X)), dim=1).numpy()

        pp["torch"] = torch_proba
    if jax is not None:
        jt = JaxTrainer(c, Xtr, ytr)
        jt.epoch()
        pp["jax"] = jt.predict_proba
    if ort is not None:
        from deepff.io.onnx import export_onnx

        path = os.path.join(tempfile.mkdtemp(), "case5.onnx")
        export_onnx(net, path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = os.cpu_count() or 1
        t = now()
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        first["onnxrt session"] = now() - t
        name = session.get_inputs()[0].name
        pp["onnxrt"] = lambda X, s=session, n=name: s.run(None, {n: X})[0]
    if MLPClassifier is not None:
        clf = B.skl_model(C1, 128, 1e-3)
        B.skl_fit(clf, Xtr, ytr)
        pp["sklearn"] = clf.predict_proba
    for k, f in pp.items():
        t = now()
        p = f(x1)
        first[k] = now() - t
        assert np.allclose(np.sum(f(Xbig[:7]), 1), 1, atol=1e-4), k
    assert np.allclose(pp["onnxrt"](Xbig[:64]), net.predict_proba(Xbig[:64]), atol=1e-5)
    del p
    log(f"  case 5 latency: 1 row, {reps['lat_blocks']} blocks x {reps['lat_calls']} calls")
    lat = {k: [] for k in pp}
    names = list(pp)
    for k in names:
        for _ in range(100):
            pp[k](x1)

    def run_block(blk):
        order = names[blk % len(names) :] + names[: blk % len(names)]
        for k in order:
            f, ts = pp[k], lat[k]
            for _ in range(reps["lat_calls"]):
                t = time.perf_counter_ns()
                f(x1)
                ts.append((time.perf_counter_ns() - t) * 1e-9)

        def undo():
            for k in names:
                del lat[k][-reps["lat_calls"] :]

        return undo

    B.quiet_rounds(run_block, reps["lat_blocks"])
    one = {"median_s": {k: median(v) for k, v in lat.items()}, "ratio": {}, "first_call_s": first}
    one["p90_s"] = {k: float(np.percentile(v, 90)) for k, v in lat.items()}
    for mine, key in (("deepff", "ratio"), ("deepff0", "ratio0")):
        if mine in names:
            one.setdefault(key, {})
            for k in names:
                if k != mine:
                    one[key][k] = one["median_s"][mine] / one["median_s"][k]
    log(f"  case 5 throughput: 10,000 rows x {reps['thr']} rounds")
    big = summarize(B.interleaved({k: (lambda f=f: f(Xbig)) for k, f in pp.items()}, reps["thr"]))
    return {"5-1row": one, "5-10k": big}


def estimator_case(key, reps, log):
    """deepff.estimators.DNNClassifier against MLPClassifier, the same settings: adam, one
    hidden layer of 100, batch 200, early stopping on 10% held out, at most 50 epochs."""
    from deepff.estimators import DNNClassifier

    if dff0 is not None:
        import_module = __import__("importlib").import_module
        import_module("deepff_base.estimators")

    if key == "est-digits":
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        X = (X / 16.0).astype(np.float32)
    else:
        X, y = B.make_data(20_000, 50, 10, seed=5)
    kw = dict(
        hidden_layer_sizes=(100,),
        solver="adam",
        batch_size=200,
        max_iter=50,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        random_state=0,
    )
    models = {"deepff": DNNClassifier(**kw)}
    if dff0 is not None:
        models["deepff0"] = sys.modules["deepff_base.estimators"].DNNClassifier(**kw)
    if MLPClassifier is not None:
        models["sklearn"] = MLPClassifier(**kw)
    fns = {k: (lambda m=m: B.skl_fit(m, X, y)) for k, m in models.items()}
    log(f"  case {key}: {X.shape[0]} x {X.shape[1]}, {reps} rounds: {', '.join(fns)}")
    res = summarize(B.interleaved(fns, reps))
    res["n_iter"] = {k: int(m.n_iter_) for k, m in models.items()}
    res["accuracy"] = {k: float(np.mean(m.predict(X) == y)) for k, m in models.items()}
    if "sklearn" in res["ratio"]:
        per = res["ratio"]["sklearn"] * res["n_iter"]["sklearn"] / res["n_iter"]["deepff"]
        res["ratio_per_epoch"] = {"sklearn": per}
    return res


# --------------------------------------------------------------------------- fresh processes

FIRST_FIT = {
    "deepff": """
import numpy as np, deepff as dff
X = np.random.default_rng(0).standard_normal((200, 8)).astype(np.float32)
y = (X[:, 0] > 0).astype(int)
net = dff.Network([dff.Dense(16, activation="relu"), dff.Dense(2, activation="softmax")], seed=0)
net.fit(X, y, epochs=2, batch_size=32, verbose=0)
""",
    "torch": """
import numpy as np, torch
torch.set_num_threads(2)
X = torch.randn(200, 8); y = (X[:, 0] > 0).long()
model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
opt = torch.optim.Adam(model.parameters(), 1e-3); lossf = torch.nn.CrossEntropyLoss()
for _ in range(2):
    for i in range(0, 200, 32):
        opt.zero_grad(); lossf(model(X[i:i+32]), y[i:i+32]).backward(); opt.step()
""",
    "jax": """
import numpy as np, jax, jax.numpy as jnp, optax
X = np.random.default_rng(0).standard_normal((200, 8)).astype(np.float32)
y = (X[:, 0] > 0).astype(np.int32)
p = [jnp.zeros((16, 8)) + 0.1, jnp.zeros(16), jnp.zeros((2, 16)) + 0.1, jnp.zeros(2)]
tx = optax.adam(1e-3); s = tx.init(p)
def loss(p, x, y):
    h = jax.nn.relu(x @ p[0].T + p[1])
    return optax.softmax_cross_entropy_with_integer_labels(h @ p[2].T + p[3], y).mean()
@jax.jit
def step(p, s, x, y):
    g = jax.grad(loss)(p, x, y); u, s = tx.update(g, s, p); return optax.apply_updates(p, u), s
for _ in range(2):
    for i in range(0, 200, 32):
        p, s = step(p, s, X[i:i+32], y[i:i+32])
jax.block_until_ready(p)
""",
    "sklearn": """
import numpy as np, warnings
from sklearn.neural_network import MLPClassifier
X = np.random.default_rng(0).standard_normal((200, 8)).astype(np.float32)
y = (X[:, 0] > 0).astype(int)
warnings.simplefilter("ignore")
MLPClassifier((16,), batch_size=32, max_iter=2, random_state=0).fit(X, y)
""",
}
IMPORTS = {
    "numpy": "numpy",
    "deepff": "deepff",
    "numba": "numba",
    "torch": "torch",
    "jax+optax": "jax, optax",
    "sklearn": "sklearn.neural_network",
    "onnxruntime": "onnxruntime",
}


def _fresh(code, env=None, src=None):
    """Seconds a fresh interpreter takes for ``code`` (its own clock, imports included)."""
    wrapped = "import time; _t = time.perf_counter()\n" + code
    wrapped += "\nprint(time.perf_counter() - _t)"
    src = str(src or B.REPO / "src")
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = src + os.pathsep + full_env.get("PYTHONPATH", "")
    out = subprocess.run(
        [sys.executable, "-c", wrapped], capture_output=True, text=True, env=full_env, timeout=600
    )
    if out.returncode:
        return float("nan")
    return float(out.stdout.strip().splitlines()[-1])


def fresh_process_costs(reps, log, baseline=None):
    """Import times, and the first fit of a tiny network (imports included) per library,
    each in a new interpreter; medians of ``reps``."""
    res = {"import_s": {}, "first_fit_s": {}}
    for name, mods in IMPORTS.items():
        res["import_s"][name] = median([_fresh(f"import {mods}") for _ in range(reps)])
        log(f"    import {name}: {B.fmt_t(res['import_s'][name])}")
    runs = {**FIRST_FIT, "deepff DEEPFF_NUMBA=0": FIRST_FIT["deepff"]}
    # the first prediction of one row after it (compiled rows load numba)
    runs["deepff fit + 1-row predict"] = FIRST_FIT["deepff"] + "net.predict_proba(X[:1])\n"
    if baseline:
        runs["deepff0"] = FIRST_FIT["deepff"]
        runs["deepff0 fit + 1-row predict"] = runs["deepff fit + 1-row predict"]
    for name, code in runs.items():
        env = {"DEEPFF_NUMBA": "0"} if "NUMBA=0" in name else None
        src = baseline if name.startswith("deepff0") else None
        res["first_fit_s"][name] = median([_fresh(code, env, src) for _ in range(reps)])
        log(f"    first fit {name}: {B.fmt_t(res['first_fit_s'][name])}")
    return res


# --------------------------------------------------------------------------- report


def goal_text(key, r):
    out = []
    for peer, bound in GOALS.get(key, []):
        ratios = {k: v for k, v in r["ratio"].items() if k in PEERS}
        if peer == "best":
            if not ratios:
                continue
            peer = max(ratios, key=ratios.get)  # the fastest peer gives the largest ratio
        value = r["ratio"].get(peer)
        if value is None:
            continue
        out.append(f"{peer}<={bound:g}: {value:.2f} {'ok' if value <= bound else 'MISS'}")
    return "; ".join(out)


def report(results, fresh, peaks, info):
    cols = ("torch", "torchC", "jax", "sklearn", "onnxrt", "floor")
    print()
    print(
        f"kernel: {info.get('kernel', '?')}; matmul peak 2048^3 float32 {peaks['peak_float32']:.1f}"
        f" GFLOP/s, float64 {peaks['peak_float64']:.1f} GFLOP/s"
    )
    print("\nRATIOS deepff / peer (medians of per-round ratios; < 1: deepff is faster)")
    hdr = f"{'case':<27}" + "".join(f"{'df/' + n:>11}" for n in cols) + "   goals (issue 17)"
    print(hdr)
    print("-" * len(hdr))
    for key, r in results.items():
        row = f"{LABELS[key]:<27}" + "".join(f"{B.fmt_r(r['ratio'].get(n)):>11}" for n in cols)
        print(row + "   " + goal_text(key, r))
    if any("ratio0" in r for r in results.values()):
        print("\nBEFORE (--baseline engine) deepff0 / peer, same rounds; df/df0 = after / before")
        hdr = f"{'case':<27}" + "".join(f"{'df0/' + n:>11}" for n in cols) + f"{'df/df0':>9}"
        print(hdr)
        print("-" * len(hdr))
        for key, r in results.items():
            r0 = r.get("ratio0", {})
            row = f"{LABELS[key]:<27}" + "".join(f"{B.fmt_r(r0.get(n)):>11}" for n in cols)
            print(row + f"{B.fmt_r(r['ratio'].get('deepff0')):>9}")
    print("\nMEDIAN TIMES (training: one epoch, case 4: 100 steps; case 5: one call; est: one fit)")
    libs = ("deepff", "deepff0", *cols)
    hdr = f"{'case':<27}" + "".join(f"{n:>11}" for n in libs)
    print(hdr)
    print("-" * len(hdr))
    for key, r in results.items():
        med = r["median_s"]
        print(f"{LABELS[key]:<27}" + "".join(f"{B.fmt_t(med.get(n)):>11}" for n in libs))
    print("\nFIRST CALL in this process minus the steady time (compiling, loading kernels)")
    for key, r in results.items():
        extra = r.get("first_call_extra_s") or {}
        if extra:
            print(
                f"  {LABELS[key]:<25} " + ", ".join(f"{k} {B.fmt_t(v)}" for k, v in extra.items())
            )
    if "5-1row" in results:
        r = results["5-1row"]
        print(
            "  case 5 first 1-row call: "
            + ", ".join(f"{k} {B.fmt_t(v)}" for k, v in r["first_call_s"].items())
        )
        print(
            "  case 5 1-row p90: " + ", ".join(f"{k} {B.fmt_t(v)}" for k, v in r["p90_s"].items())
        )
    for key in ("est-digits", "est-20k"):
        if key in results:
            r = results[key]
            print(
                f"  {LABELS[key]}: epochs {r['n_iter']}, training accuracy "
                + ", ".join(f"{k} {100 * v:.1f}%" for k, v in r["accuracy"].items())
                + (
                    f"; per-epoch ratio {r['ratio_per_epoch']['sklearn']:.2f}"
                    if "ratio_per_epoch" in r
                    else ""
                )
            )
    if fresh:
        print("\nNEW PROCESS (medians; imports measured on their own)")
        print("  import: " + ", ".join(f"{k} {B.fmt_t(v)}" for k, v in fresh["import_s"].items()))
        print(
            "  first fit of a tiny network (200 x 8, 16 hidden, 2 epochs), imports included: "
            + ", ".join(f"{k} {B.fmt_t(v)}" for k, v in fresh["first_fit_s"].items())
        )
        v = fresh["first_fit_s"].get("deepff")
        if v is not None:
            mark = "ok" if v <= FIRST_FIT_GOAL else "MISS"
            print(f"  goal: deepff first fit <= {FIRST_FIT_GOAL} s: {v:.3f} s {mark}")


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    all_cases = [*CASES, "5", "est-digits", "est-20k", "fresh"]
    ap.add_argument("--cases", default=",".join(all_cases), help=f"subset of {all_cases}")
    ap.add_argument("--compile", default="1,3,4-f32", help="cases that also run torch.compile")
    ap.add_argument("--quick", action="store_true", help="fewer rounds (smoke runs)")
    ap.add_argument("--rounds", type=int, default=0, help="timed rounds per case (default 5)")
    ap.add_argument("--wait-quiet", type=float, default=0.0, metavar="S")
    ap.add_argument("--json", metavar="OUT")
    ap.add_argument("--label", default="")
    ap.add_argument(
        "--baseline",
        metavar="DIR",
        help="also run the deepff under DIR (a src/ folder, e.g. of `git archive COMMIT src`) as "
        "deepff0 in the same rounds: before/after ratios from one run",
    )
    ap.add_argument("--deepff-src", metavar="DIR", help="import deepff from DIR (see bench.py)")
    args = ap.parse_args(argv)
    global dff, dff0
    if args.baseline:
        dff0 = import_baseline(args.baseline)
    if args.deepff_src:
        dff, err = B._import_deepff(args.deepff_src)
        B.dff = dff
        if dff is None:
            ap.error(err)
    cases = [c for c in args.cases.split(",") if c]
    bad = [c for c in cases if c not in all_cases]
    if bad:
        ap.error(f"unknown cases {bad}")
    compile_cases = set(args.compile.split(","))
    q = args.quick
    reps = {
        "train": args.rounds or (2 if q else 5),
        "lat_blocks": 2 if q else 5,
        "lat_calls": 100 if q else 400,
    }
    reps["thr"] = 3 if q else 9

    def log(msg):
        print(msg, flush=True)

    info = B.header()
    info["label"] = args.label
    info["jax"] = jax.__version__ if jax is not None else f"missing ({JAX_ERR})"
    info["optax"] = optax.__version__ if jax is not None else "missing"
    info["onnxruntime"] = ort.__version__ if ort is not None else "missing"
    pools = info["threadpools"] if isinstance(info["threadpools"], list) else []
    info["kernel"] = ", ".join(
        f"{d['prefix']} {d['version']} {d.get('architecture') or ''} x{d['num_threads']}"
        for d in pools
        if d.get("internal_api") in ("openblas", "mkl", "blis")
    )
    B.print_header(info)
    print(f"peers   : jax {info['jax']}, optax {info['optax']}, onnxruntime {info['onnxruntime']}")
    t0 = now()
    peaks_start = B.matmul_peak(3 if q else 7)
    B.QUIET["wait"], B.QUIET["log"] = args.wait_quiet, log
    results, fresh, external = {}, None, {}
    for c in cases:
        B.QUIET["deadline"] = now() + args.wait_quiet
        if args.wait_quiet > 0:
            B.wait_quiet(args.wait_quiet, log)
        meter = B.CpuMeter()
        if c in CASES:
            results[c] = train_case(c, reps["train"], compile_cases, log)
        elif c == "5":
            results.update(predict_case(reps, log))
        elif c.startswith("est-"):
            results[c] = estimator_case(c, args.rounds or (2 if q else 4), log)
        elif c == "fresh":
            fresh = fresh_process_costs(2 if q else 3, log, args.baseline)
        external[c] = meter.external_cores()
        log(f"    outside load {external[c]:.2f} cores")
    peaks = B.combine_peaks(peaks_start, B.matmul_peak(3 if q else 7))
    print("\n" + "=" * 100)
    report(results, fresh, peaks, info)
    print(
        "\noutside load per case (cores): "
        + ", ".join(f"{c}: {v:.2f}" for c, v in external.items())
        + f"; rounds discarded {B.QUIET['discarded']}, busy rounds kept {B.QUIET['kept_busy']}"
    )
    print(f"total wall time {now() - t0:.0f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(
                {"info": info, "peaks": peaks, "results": results, "fresh": fresh}, fh, default=str
            )
    return 0


if __name__ == "__main__":
    warnings.filterwarnings("ignore", message=".*Profiler.*")
    sys.exit(main())
