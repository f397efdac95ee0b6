#!/usr/bin/env python
"""deepff vs PyTorch (eager, CPU) vs scikit-learn: the benchmark of issue 3.

One process runs the three libraries on the same synthetic data, the same layer
sizes, optimizer, learning rate and batch size. Every timing is the median of
several repetitions after a warm-up; the repetitions are interleaved (one round
runs every library once) and the ratios reported are medians of the per-round
ratios, so that load from other processes on a shared machine hits all of them
alike. Absolute times on a shared VM are noise; the ratios are the result.

    python benchmarks/bench.py                  # full run (~10 minutes on 2 cores)
    python benchmarks/bench.py --quick          # smoke run: fewer repetitions
    python benchmarks/bench.py --cases 1,3,acc  # a subset (1-6, acc)
    python benchmarks/bench.py --json out.json  # also write every number as JSON
    python benchmarks/bench.py --profile 1,3    # cProfile deepff's fit on cases 1 and 3

The script never changes the environment (threads, OPENBLAS_* variables); it
reports what it finds.  See benchmarks/README.md for what each case measures.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import itertools
import json
import os
import platform
import pstats
import statistics
import subprocess
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent

# --------------------------------------------------------------------------- imports

try:
    import torch
except Exception as exc:  # pragma: no cover - reported in the header
    torch = None
    TORCH_ERR = repr(exc)
else:
    TORCH_ERR = None

try:
    import sklearn
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
except Exception as exc:  # pragma: no cover
    MLPClassifier = None
    SKL_ERR = repr(exc)
else:
    SKL_ERR = None


def _import_deepff(src_dir=None):
    if src_dir:
        sys.path.insert(0, str(Path(src_dir).resolve()))
        for name in [n for n in sys.modules if n == "deepff" or n.startswith("deepff.")]:
            del sys.modules[name]
    try:
        import deepff  # noqa: F401
    except ImportError:
        src = REPO / "src"
        if src.is_dir() and str(src) not in sys.path:
            sys.path.insert(0, str(src))
    try:
        import deepff as dff

        dff.Network, dff.Dense, dff.Adam, dff.SGD  # noqa: B018 - the engine is there
        return dff, None
    except Exception as exc:
        return None, f"{type(exc).__name__}: {exc}"


dff, DFF_ERR = _import_deepff()

# --------------------------------------------------------------------------- settings

CASES = {
    # name: sizes (input first), batch, examples
    "1": dict(sizes=(784, 256, 128, 10), batch=128, m=60_000, lr=1e-3),
    "2": dict(sizes=(784, 1024, 1024, 10), batch=256, m=30_000, lr=1e-3),
    "3": dict(sizes=(64, 32, 10), batch=32, m=20_000, lr=1e-3),
    "4": dict(sizes=(12288, 20, 7, 5, 1), batch=None, m=209, lr=0.0075, iters=100),
}

# goals of issue 3: (deepff/PyTorch, deepff/scikit-learn), None where there is none
GOALS = {
    "1": (0.75, 0.5),
    "2": (0.85, 0.6),
    "3": (0.30, 0.5),
    "4-f64": (0.8, None),
    "4-f32": (0.8, None),
    "5-1row": (0.5, 0.5),
    "5-10k": (1.0, 0.5),
}
GOAL_PEAK_CASE2 = 0.75
# deepff >= 75% of the measured matmul peak on case 2 (above)
BUSY = 0.3  # cores used by other processes above which a case is flagged


class Reps:
    def __init__(self, quick: bool):
        q = quick
        self.peak = 3 if q else 7
        self.train = {
            "1": 2 if q else 5,
            "2": 1 if q else 3,
            "3": 2 if q else 7,
            "4": 2 if q else 7,
        }
        self.lat_blocks = 2 if q else 5  # blocks of calls per library for 1-row latency
        self.lat_calls = 100 if q else 400  # calls per block
        self.thr = 3 if q else 9
        self.acc_epochs = 3


# --------------------------------------------------------------------------- utils


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def now():
    return time.perf_counter()


def fmt_t(s):
    if s is None or s != s:
        return "—"
    if s >= 1:
        return f"{s:.3f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    return f"{s * 1e6:.1f} us"


def fmt_r(r):
    return "—" if r is None or r != r else f"{r:.2f}"


def goal_mark(r, goal, le=True):
    if r is None or goal is None or r != r:
        return ""
    ok = r <= goal if le else r >= goal
    return " ok" if ok else " MISS"


def make_data(m, n_in, n_classes, seed=0, latent=16, noise=0.1, margin=0.0):
    """Learnable synthetic classification data.

    A teacher draws a latent Z ~ N(0, I_k) (k = ``latent``), embeds it in n_in
    dimensions through a fixed random linear map plus N(0, noise^2) noise, and
    labels each example with argmax(Z W) for a fixed random W (k x classes); with
    one output unit the label is [Z w > 0]. With ``margin`` > 0, examples whose two
    largest teacher logits (or |Z w|) are closer than ``margin`` are redrawn, which
    makes the task easy enough that a few epochs reach ~99% and runs agree.
    X is float32, C-contiguous, about unit variance. The teacher is fixed; ``seed``
    only draws the examples.
    """
    trng = np.random.default_rng(1234 + n_in)
    P = (trng.standard_normal((latent, n_in)) / np.sqrt(latent)).astype(np.float32)
    W = trng.standard_normal((latent, n_classes)).astype(np.float32)
    rng = np.random.default_rng(seed)
    Zs, have = [], 0
    while have < m:
        Z = rng.standard_normal(
            (max(m - have, 1024) * (2 if margin > 0 else 1), latent), dtype=np.float32
        )
        L = Z @ W
        if margin > 0:
            if n_classes == 1:
                gap = np.abs(L[:, 0])
            else:
                top2 = np.partition(L, n_classes - 2, axis=1)[:, -2:]
                gap = np.abs(top2[:, 1] - top2[:, 0])
            Z = Z[gap > margin]
        Zs.append(Z)
        have += len(Z)
    Z = np.concatenate(Zs)[:m]
    L = Z @ W
    y = (L[:, 0] > 0).astype(np.int64) if n_classes == 1 else np.argmax(L, axis=1).astype(np.int64)
    X = Z @ P
    X += noise * rng.standard_normal((m, n_in), dtype=np.float32)
    return np.ascontiguousarray(X, dtype=np.float32), y


def train_flops(m, sizes):
    """FLOPs of one pass of training over m examples of a dense net.

    Per layer l (n_in -> n_out): forward Z = A W^T: 2 m n_in n_out; backward
    dW = dZ^T A: 2 m n_in n_out and dA = dZ W: 2 m n_in n_out, the latter skipped
    for the first layer. Element-wise work (activations, loss, optimizer) is not
    counted.
    """
    f = 0
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        f += 2 * m * a * b * (2 if i == 0 else 3)
    return f


def infer_flops(m, sizes):
    return sum(2 * m * a * b for a, b in itertools.pairwise(sizes))


def batches(m, batch):
    if batch is None:
        return [m]
    out = [batch] * (m // batch)
    if m % batch:
        out.append(m % batch)
    return out


# --------------------------------------------------------------------------- contention


def _cpu_jiffies():
    """(busy, total) jiffies of the whole machine from /proc/stat; steal counts as busy."""
    with open("/proc/stat") as fh:
        f = [int(x) for x in fh.readline().split()[1:]]
    idle = f[3] + (f[4] if len(f) > 4 else 0)
    total = sum(f[:8])
    return total - idle, total


class CpuMeter:
    """CPU used by everything except this process, in cores, over an interval.

    On a 2-core machine, two-thread code (torch's OpenMP pool, NumPy's OpenBLAS)
    slows down by an order of magnitude or more when another process holds one
    core: every thread barrier waits for a descheduled thread. The factor differs
    per library and per case, so ratios measured under outside load are not
    comparable. Every case reports this number.
    """

    def __init__(self):
        self.ok = os.path.exists("/proc/stat")
        self.start()

    def start(self):
        if not self.ok:
            return
        self.t0 = now()
        self.j0 = _cpu_jiffies()
        self.own0 = sum(os.times()[:2])

    def external_cores(self):
        if not self.ok:
            return float("nan")
        busy0, total0 = self.j0
        busy1, total1 = _cpu_jiffies()
        ncpu = os.cpu_count() or 1
        if total1 == total0:
            return 0.0
        busy_cores = ncpu * (busy1 - busy0) / (total1 - total0)
        own = (sum(os.times()[:2]) - self.own0) / max(now() - self.t0, 1e-9)
        return max(0.0, busy_cores - own)


def wait_quiet(max_wait, log, threshold=0.25, window=2.0, need=3, quiet_log=True):
    """Wait (at most max_wait s) until outside processes use < threshold cores
    for ``need`` consecutive windows."""
    if max_wait <= 0 or not os.path.exists("/proc/stat"):
        return None
    t_end = now() + max_wait
    streak = 0
    ext = float("nan")
    while now() < t_end:
        m = CpuMeter()
        time.sleep(window)
        ext = m.external_cores()
        streak = streak + 1 if ext < threshold else 0
        if streak >= need:
            if quiet_log:
                log(f"machine quiet (outside load {ext:.2f} cores)")
            return ext
    log(
        f"WARNING: machine still busy after {max_wait:.0f} s "
        f"(outside load {ext:.2f} cores); going on"
    )
    return ext


# --------------------------------------------------------------------------- header


def header():
    info = {}
    info["date"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    info["python"] = sys.version.split()[0]
    info["platform"] = platform.platform()
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info["cpu"] = cpu
    info["cpus_visible"] = os.cpu_count()
    try:
        info["cpus_affinity"] = len(os.sched_getaffinity(0))
    except AttributeError:
        pass
    try:
        info["loadavg_start"] = os.getloadavg()
    except OSError:
        pass
    info["numpy"] = np.__version__
    info["torch"] = torch.__version__ if torch is not None else f"missing ({TORCH_ERR})"
    info["sklearn"] = sklearn.__version__ if MLPClassifier is not None else f"missing ({SKL_ERR})"
    if dff is not None:
        info["deepff"] = getattr(dff, "__version__", "?")
        info["deepff_path"] = str(Path(dff.__file__).resolve().parent)
    else:
        info["deepff"] = f"missing ({DFF_ERR})"
    try:
        info["git"] = subprocess.run(
            ["git", "-C", str(REPO), "log", "-1", "--format=%h %s"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        if dirty:
            info["git"] += "  (+ uncommitted changes in src/)"
    except Exception:
        info["git"] = "?"
    try:
        import numba

        info["numba"] = numba.__version__
    except Exception:
        info["numba"] = "missing"
    info["env"] = {
        k: v
        for k, v in os.environ.items()
        if k.startswith(("OPENBLAS", "OMP_", "MKL", "GOTO", "BLIS", "NUMBA_"))
    }
    try:
        from threadpoolctl import threadpool_info

        info["threadpools"] = [
            {
                k: d.get(k)
                for k in (
                    "internal_api",
                    "prefix",
                    "version",
                    "architecture",
                    "num_threads",
                    "threading_layer",
                    "filepath",
                )
            }
            for d in threadpool_info()
        ]
    except Exception as exc:
        info["threadpools"] = f"threadpoolctl unavailable: {exc}"
    if torch is not None:
        torch.set_num_threads(2)
        info["torch_threads"] = torch.get_num_threads()
        info["torch_blas"] = "mkl" if torch.backends.mkl.is_available() else "other"
        info["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    return info


def print_header(info):
    print("=" * 100)
    print("deepff benchmark (issue 3)  " + info["date"])
    print(
        f"machine : {info['cpu']}, {info.get('cpus_affinity', info['cpus_visible'])} CPUs; "
        f"{info['platform']}"
    )
    print(
        f"python {info['python']}  numpy {info['numpy']}  torch {info['torch']}  "
        f"scikit-learn {info['sklearn']}  numba {info['numba']}  deepff {info['deepff']}"
    )
    print(f"repo    : {info['git']}")
    if "deepff_path" in info:
        print(f"deepff  : imported from {info['deepff_path']}")
    if info.get("label"):
        print(f"label   : {info['label']}")
    if "torch_threads" in info:
        print(
            f"torch   : {info['torch_threads']} threads, BLAS {info['torch_blas']}, "
            f"CPU capability {info['torch_cpu_capability']}"
        )
    print(f"env     : {info['env'] or '(no OPENBLAS_/OMP_/MKL_ variables set)'}")
    if isinstance(info["threadpools"], list):
        for d in info["threadpools"]:
            where = os.path.basename(d["filepath"] or "")
            arch = f" arch={d['architecture']}" if d.get("architecture") else ""
            print(
                f"pool    : {d['internal_api']:8s} {d['prefix']} {d['version'] or ''}"
                f"{arch} threads={d['num_threads']}  ({where})"
            )
    else:
        print(f"pool    : {info['threadpools']}")
    if "loadavg_start" in info:
        print("load    : {:.2f} {:.2f} {:.2f} (1/5/15 min) at start".format(*info["loadavg_start"]))
    print("=" * 100)


# --------------------------------------------------------------------------- matmul peak


def matmul_peak(reps, n=2048):
    out = {}
    for dt in (np.float32, np.float64):
        a = np.random.default_rng(0).standard_normal((n, n)).astype(dt)
        b = np.random.default_rng(1).standard_normal((n, n)).astype(dt)
        c = np.empty((n, n), dt)
        np.matmul(a, b, out=c)
        ts = []
        for _ in range(reps):
            t = now()
            np.matmul(a, b, out=c)
            ts.append(now() - t)
        out[f"numpy_{np.dtype(dt).name}"] = 2 * n**3 / median(ts) / 1e9
        if torch is not None:
            ta, tb = torch.from_numpy(a), torch.from_numpy(b)
            tc = torch.empty((n, n), dtype=ta.dtype)
            torch.matmul(ta, tb, out=tc)
            ts = []
            for _ in range(reps):
                t = now()
                torch.matmul(ta, tb, out=tc)
                ts.append(now() - t)
            out[f"torch_{np.dtype(dt).name}"] = 2 * n**3 / median(ts) / 1e9
    return out


def combine_peaks(*measurements):
    """Per library and dtype the best of the medians measured (start and end of
    the run); the peak of a dtype is the best library."""
    out = {}
    for m in measurements:
        for k, v in m.items():
            out[k] = max(out.get(k, 0.0), v)
    out["peak_float32"] = max(v for k, v in out.items() if k.endswith("float32"))
    out["peak_float64"] = max(v for k, v in out.items() if k.endswith("float64"))
    return out


# --------------------------------------------------------------------------- runners


def _torch_act(name):
    return {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid}[name]()


def torch_model(sizes, hidden="relu", dtype=None, seed=0):
    torch.manual_seed(seed)
    layers = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(_torch_act(hidden))
    model = torch.nn.Sequential(*layers)
    if dtype is not None:
        model = model.to(dtype)
    return model


class OneThread:
    """Run torch with one intra-op thread inside the block (the reference that
    does not collapse when another process holds a core), then restore."""

    def __enter__(self):
        self.n = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc):
        torch.set_num_threads(self.n)


def one_thread(fn):
    def run():
        with OneThread():
            fn()

    return run


class TorchTrainer:
    """Idiomatic eager training loop: randperm each epoch, index the batch,
    zero_grad / forward / CrossEntropyLoss (softmax fused) or BCEWithLogitsLoss
    (sigmoid fused) / backward / step."""

    def __init__(self, sizes, X, y, batch, lr, optimizer="adam", binary=False, seed=0, fused=None):
        self.model = torch_model(
            sizes, dtype=torch.float64 if X.dtype == np.float64 else None, seed=seed
        )
        self.model.train()
        params = self.model.parameters()
        kw = {} if fused is None else {"fused": fused}
        if optimizer == "adam":
            self.opt = torch.optim.Adam(params, lr=lr, **kw)
        else:
            self.opt = torch.optim.SGD(params, lr=lr, **kw)
        self.X = torch.from_numpy(X)
        if binary:
            self.y = torch.from_numpy(y.astype(X.dtype).reshape(-1, 1))
            self.loss = torch.nn.BCEWithLogitsLoss()
        else:
            self.y = torch.from_numpy(y)
            self.loss = torch.nn.CrossEntropyLoss()
        self.batch = batch
        self.gen = torch.Generator().manual_seed(seed)

    def epoch(self):
        X, y, model, opt, lossf = self.X, self.y, self.model, self.opt, self.loss
        m = X.shape[0]
        if self.batch is None or self.batch >= m:
            opt.zero_grad(set_to_none=True)
            lossf(model(X), y).backward()
            opt.step()
            return
        perm = torch.randperm(m, generator=self.gen)
        b = self.batch
        for i in range(0, m, b):
            idx = perm[i : i + b]
            opt.zero_grad(set_to_none=True)
            lossf(model(X[idx]), y[idx]).backward()
            opt.step()

    def fit(self, epochs=1):
        for _ in range(epochs):
            self.epoch()

    def predict_proba(self, X):
        self.model.eval()
        with torch.no_grad():
            return torch.softmax(self.model(torch.from_numpy(X)), dim=1).numpy()


def dff_network(sizes, lr, optimizer="adam", binary=False, dtype="float32", seed=0):
    layers = [dff.Dense(n, activation="relu") for n in sizes[1:-1]]
    if binary:
        layers.append(dff.Dense(sizes[-1], activation="sigmoid"))
        loss = "binary_crossentropy"
    else:
        layers.append(dff.Dense(sizes[-1], activation="softmax"))
        loss = "categorical_crossentropy"
    opt = dff.Adam(learning_rate=lr) if optimizer == "adam" else dff.SGD(lr)
    return dff.Network(layers, loss=loss, optimizer=opt, seed=seed, dtype=dtype)


def skl_model(sizes, batch, lr, seed=0):
    return MLPClassifier(
        hidden_layer_sizes=tuple(sizes[1:-1]),
        activation="relu",
        solver="adam",
        alpha=0.0,
        batch_size=batch,
        learning_rate_init=lr,
        max_iter=1,
        shuffle=True,
        random_state=seed,
        early_stopping=False,
    )


def skl_fit(clf, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)


class GemmFloor:
    """The bare matrix products of a training epoch, in NumPy, into preallocated
    buffers (forward Z = A W^T, backward dW = dZ^T A, dA = dZ W except layer 1):
    what a perfect engine built on NumPy's BLAS would still have to pay."""

    def __init__(self, sizes, m, batch, dtype=np.float32):
        rng = np.random.default_rng(0)
        self.sizes = sizes
        self.bs = batches(m, batch)
        self.W = [rng.standard_normal((b, a)).astype(dtype) for a, b in itertools.pairwise(sizes)]
        self.dW = [np.empty_like(w) for w in self.W]
        self.buf = {}
        for bsz in set(self.bs):
            A = [rng.standard_normal((bsz, n)).astype(dtype) for n in sizes]
            dZ = [rng.standard_normal((bsz, n)).astype(dtype) for n in sizes[1:]]
            dA = [np.empty((bsz, n), dtype) for n in sizes[:-1]]
            self.buf[bsz] = (A, dZ, dA)

    def epoch(self):
        W, dW = self.W, self.dW
        L = len(W)
        for bsz in self.bs:
            A, dZ, dA = self.buf[bsz]
            for l in range(L):
                np.matmul(A[l], W[l].T, out=A[l + 1])
            for l in range(L - 1, -1, -1):
                np.matmul(dZ[l].T, A[l], out=dW[l])
                if l > 0:
                    np.matmul(dZ[l], W[l], out=dA[l])


# Set by main(): with --wait-quiet S > 0, a round during which other processes used
# more than BUSY cores is thrown away and run again after waiting for quiet, until the
# case has spent S seconds waiting ("deadline"); "discarded" counts those rounds.
QUIET = {"wait": 0.0, "deadline": 0.0, "log": print, "discarded": 0, "kept_busy": 0}


def quiet_rounds(run_round, reps):
    """Call ``run_round(r)`` for r = 0..reps-1 (it records its own timings and
    returns a function that drops them), discarding busy rounds as QUIET says."""
    r = 0
    while r < reps:
        meter = CpuMeter()
        undo = run_round(r)
        ext = meter.external_cores()
        if ext > BUSY:
            if QUIET["wait"] > 0 and now() < QUIET["deadline"]:
                undo()
                QUIET["discarded"] += 1
                QUIET["log"](f"    round discarded: outside load {ext:.2f} cores")
                wait_quiet(QUIET["deadline"] - now(), QUIET["log"], quiet_log=False)
                continue
            QUIET["kept_busy"] += 1
        r += 1


def interleaved(fns: dict, reps: int, warmup: int = 1):
    """Run each callable ``warmup`` times, then ``reps`` rounds of every callable
    once (order rotated per round). Returns {name: [seconds, ...]}."""
    names = list(fns)
    for _ in range(warmup):
        for n in names:
            fns[n]()
    times = {n: [] for n in names}

    def run_round(r):
        order = names[r % len(names) :] + names[: r % len(names)]
        for n in order:
            gc.collect()
            t = now()
            fns[n]()
            times[n].append(now() - t)

        def undo():
            for n in names:
                times[n].pop()

        return undo

    quiet_rounds(run_round, reps)
    return times


def summarize(times, flops=None, peak=None):
    res = {"times": times, "median_s": {k: median(v) for k, v in times.items()}}
    if "deepff" in times:
        for other in ("torch", "torchF", "torch1", "sklearn", "floor"):
            if other in times:
                rs = [a / b for a, b in zip(times["deepff"], times[other], strict=False)]
                res[f"deepff/{other}"] = median(rs)
    for other in ("torch", "torchF", "torch1", "sklearn"):
        if other in times and "floor" in times:
            res[f"{other}/floor"] = median(
                [a / b for a, b in zip(times[other], times["floor"], strict=False)]
            )
    if flops is not None:
        res["gflops"] = {k: flops / v / 1e9 for k, v in res["median_s"].items()}
        if peak:
            res["pct_peak"] = {k: 100 * g / peak for k, g in res["gflops"].items()}
    return res


# --------------------------------------------------------------------------- cases


def case_train(key, reps, peak, log):
    c = CASES[key]
    sizes, batch, m, lr = c["sizes"], c["batch"], c["m"], c["lr"]
    X, y = make_data(m, sizes[0], sizes[-1], seed=0)
    fns = {}
    if dff is not None:
        net = dff_network(sizes, lr)
        fns["deepff"] = lambda: net.fit(X, y, epochs=1, batch_size=batch, shuffle=True, verbose=0)
    if torch is not None:
        tt = TorchTrainer(sizes, X, y, batch, lr)
        fns["torch"] = tt.epoch
        tf = TorchTrainer(sizes, X, y, batch, lr, fused=True)
        fns["torchF"] = tf.epoch
        t1 = TorchTrainer(sizes, X, y, batch, lr)
        fns["torch1"] = one_thread(t1.epoch)
    if MLPClassifier is not None:
        clf = skl_model(sizes, batch, lr)
        fns["sklearn"] = lambda: skl_fit(clf, X, y)
    floor = GemmFloor(sizes, m, batch)
    fns["floor"] = floor.epoch
    log(
        f"  case {key}: {'-'.join(map(str, sizes))}, batch {batch}, {m} examples, "
        f"1 epoch x {reps} rounds: {', '.join(fns)}"
    )
    times = interleaved(fns, reps)
    res = summarize(times, train_flops(m, sizes), peak)
    if MLPClassifier is not None:
        res["sklearn_dtype"] = str(clf.coefs_[0].dtype)
    return res


def case_cat(reps, peaks, log):
    c = CASES["4"]
    sizes, m, lr, iters = c["sizes"], c["m"], c["lr"], c["iters"]
    X32, y = make_data(m, sizes[0], 1, seed=0)
    out = {}
    for dt in ("float64", "float32"):
        X = X32.astype(dt)
        fns = {}
        if dff is not None:
            net = dff_network(sizes, lr, optimizer="sgd", binary=True, dtype=dt)
            fns["deepff"] = lambda net=net, X=X: net.fit(
                X, y, epochs=iters, batch_size=None, shuffle=False, verbose=0
            )
        if torch is not None:
            tt = TorchTrainer(sizes, X, y, None, lr, optimizer="sgd", binary=True)
            fns["torch"] = lambda tt=tt: tt.fit(iters)
            tf = TorchTrainer(sizes, X, y, None, lr, optimizer="sgd", binary=True, fused=True)
            fns["torchF"] = lambda tf=tf: tf.fit(iters)
            t1 = TorchTrainer(sizes, X, y, None, lr, optimizer="sgd", binary=True)
            fns["torch1"] = one_thread(lambda t1=t1: t1.fit(iters))
        floor = GemmFloor(sizes, m, None, dtype=np.dtype(dt))
        fns["floor"] = lambda floor=floor: [floor.epoch() for _ in range(iters)]
        log(
            f"  case 4 {dt}: {'-'.join(map(str, sizes))}, full batch of {m}, {iters} GD iterations"
            f" x {reps} rounds: {', '.join(fns)}"
        )
        times = interleaved(fns, reps)
        out[dt] = summarize(times, iters * train_flops(m, sizes), peaks[f"peak_{dt}"])
    return out


def case_infer(reps, peak, log):
    c = CASES["1"]
    sizes, batch, lr = c["sizes"], c["batch"], c["lr"]
    Xtr, ytr = make_data(5000, sizes[0], sizes[-1], seed=1)
    Xbig, _ = make_data(10_000, sizes[0], sizes[-1], seed=2)
    x1 = np.ascontiguousarray(Xbig[:1])
    pp = {}
    if dff is not None:
        net = dff_network(sizes, lr)
        net.fit(Xtr, ytr, epochs=1, batch_size=batch, shuffle=True, verbose=0)
        pp["deepff"] = net.predict_proba
    if torch is not None:
        tt = TorchTrainer(sizes, Xtr, ytr, batch, lr)
        tt.fit(1)
        tt.model.eval()
        pp["torch"] = tt.predict_proba
    if MLPClassifier is not None:
        clf = skl_model(sizes, batch, lr)
        skl_fit(clf, Xtr, ytr)
        pp["sklearn"] = clf.predict_proba
    # sanity: same shape, rows sum to one
    for k, f in pp.items():
        p = f(Xbig[:7])
        assert p.shape == (7, sizes[-1]), (k, p.shape)
        assert np.allclose(p.sum(1), 1, atol=1e-4), k
    out = {}
    # 1-row latency: every call timed on its own; blocks of calls interleaved
    log(
        f"  case 5 latency: predict_proba on 1 row, {reps.lat_blocks} blocks x "
        f"{reps.lat_calls} calls per library"
    )
    lat = {k: [] for k in pp}
    names = list(pp)
    for k in names:  # warm-up
        for _ in range(50):
            pp[k](x1)

    def run_block(blk):
        order = names[blk % len(names) :] + names[: blk % len(names)]
        for k in order:
            f = pp[k]
            ts = lat[k]
            for _ in range(reps.lat_calls):
                t = time.perf_counter_ns()
                f(x1)
                ts.append((time.perf_counter_ns() - t) * 1e-9)

        def undo():
            for k in names:
                del lat[k][-reps.lat_calls :]

        return undo

    quiet_rounds(run_block, reps.lat_blocks)
    r = {
        "median_s": {k: median(v) for k, v in lat.items()},
        "p90_s": {k: float(np.percentile(v, 90)) for k, v in lat.items()},
    }
    if "deepff" in lat:
        for o in ("torch", "sklearn"):
            if o in lat:
                r[f"deepff/{o}"] = r["median_s"]["deepff"] / r["median_s"][o]
    out["1row"] = r
    log(f"  case 5 throughput: predict_proba on {len(Xbig)} rows x {reps.thr} rounds")
    times = interleaved({k: (lambda f=f: f(Xbig)) for k, f in pp.items()}, reps.thr)
    r = summarize(times, infer_flops(len(Xbig), sizes), peak)
    r["rows_per_s"] = {k: len(Xbig) / v for k, v in r["median_s"].items()}
    out["10k"] = r
    return out


def case_memory(log):
    """Peak extra memory (tracemalloc: NumPy reports its data buffers to it) of one
    training epoch of case 1, from a fresh model, relative to the bytes of X."""
    c = CASES["1"]
    sizes, batch, m, lr = c["sizes"], c["batch"], c["m"], c["lr"]
    X, y = make_data(m, sizes[0], sizes[-1], seed=0)
    out = {"X_bytes": X.nbytes}
    runs = []
    if dff is not None:
        runs.append(("deepff float32 C-contiguous X", "deepff", X))
        runs.append(("deepff float64 X (needs one float32 copy)", "deepff", X.astype(np.float64)))
    if MLPClassifier is not None:
        runs.append(("sklearn float32 C-contiguous X", "sklearn", X))
    for label, lib, Xr in runs:
        gc.collect()
        log(f"  case 6: {label}")
        if lib == "deepff":
            net = dff_network(sizes, lr)

            def fn(net=net, Xr=Xr):
                net.fit(Xr, y, epochs=1, batch_size=batch, shuffle=True, verbose=0)

        else:
            clf = skl_model(sizes, batch, lr)

            def fn(clf=clf, Xr=Xr):
                skl_fit(clf, Xr, y)

        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        fn()
        peak = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
        out[label] = {
            "peak_extra_bytes": peak,
            "ratio_to_X32": peak / X.nbytes,
            "ratio_to_this_X": peak / Xr.nbytes,
        }
        del fn
    return out


def case_accuracy(epochs, log, runs=3):
    """``epochs`` epochs of case 1 on the learnable task (margin 1.0); test accuracy
    of deepff and torch, ``runs`` times each.

    deepff and torch start from the same weights (torch's Linear layers receive
    deepff's initial W and b; both store W as (out, in)); the runs differ in the
    order of the examples only (deepff: its generator reseeded after build; torch:
    randperm's generator). The check compares the mean accuracies: a single run's
    accuracy varies by a few tenths of a point with the shuffling order alone.
    scikit-learn (its own initialization, one run) is printed for reference.
    """
    c = CASES["1"]
    sizes, batch, m, lr = c["sizes"], c["batch"], c["m"], c["lr"]
    X, y = make_data(m + 10_000, sizes[0], sizes[-1], seed=3, margin=1.0)
    Xtr, ytr, Xte, yte = X[:m], y[:m], X[m:], y[m:]
    out = {
        "epochs": epochs,
        "train": m,
        "test": len(yte),
        "runs": runs,
        "deepff_runs": [],
        "torch_runs": [],
    }
    log(
        f"  accuracy: {epochs} epochs of case 1 x {runs} runs each, "
        f"test on {len(yte)} held-out examples"
    )
    for r in range(runs):
        net = None
        if dff is not None:
            net = dff_network(sizes, lr, seed=0)
            net.build(sizes[0])
            net.rng = np.random.default_rng(1000 + r)  # same init, another order
        if torch is not None:
            tt = TorchTrainer(sizes, Xtr, ytr, batch, lr, seed=r)
            if net is not None:
                linears = [mod for mod in tt.model if isinstance(mod, torch.nn.Linear)]
                dense = [layer for layer in net.layers if getattr(layer, "params", None)]
                with torch.no_grad():
                    for lin, layer in zip(linears, dense, strict=True):
                        lin.weight.copy_(torch.from_numpy(np.array(layer.params["W"])))
                        lin.bias.copy_(torch.from_numpy(np.array(layer.params["b"])))
                out["same_init"] = True
            tt.fit(epochs)
            out["torch_runs"].append(float(np.mean(tt.predict_proba(Xte).argmax(1) == yte)))
        if net is not None:
            net.fit(Xtr, ytr, epochs=epochs, batch_size=batch, shuffle=True, verbose=0)
            proba = np.asarray(net.predict_proba(Xte))
            out["deepff_runs"].append(float(np.mean(proba.argmax(1) == yte)))
    for k in ("deepff", "torch"):
        if out[f"{k}_runs"]:
            out[k] = float(np.mean(out[f"{k}_runs"]))
    if MLPClassifier is not None:
        clf = MLPClassifier(
            hidden_layer_sizes=tuple(sizes[1:-1]),
            solver="adam",
            alpha=0.0,
            batch_size=batch,
            learning_rate_init=lr,
            max_iter=epochs,
            shuffle=True,
            random_state=0,
            tol=0.0,
            n_iter_no_change=10**9,
        )
        skl_fit(clf, Xtr, ytr)
        out["sklearn"] = float(np.mean(clf.predict(Xte) == yte))
    if "deepff" in out and "torch" in out:
        out["diff"] = out["deepff"] - out["torch"]
        out["pass"] = abs(out["diff"]) <= 0.01
    return out


def profile_deepff(keys, log, top=18):
    out = {}
    for key in keys:
        c = CASES[key]
        sizes, batch, m, lr = c["sizes"], c["batch"], c["m"], c["lr"]
        X, y = make_data(m, sizes[0], sizes[-1], seed=0)
        net = dff_network(sizes, lr)
        net.fit(X, y, epochs=1, batch_size=batch, shuffle=True, verbose=0)
        prof = cProfile.Profile()
        prof.enable()
        net.fit(X, y, epochs=1, batch_size=batch, shuffle=True, verbose=0)
        prof.disable()
        s = io.StringIO()
        st = pstats.Stats(prof, stream=s)
        st.sort_stats("tottime").print_stats(top)
        text = s.getvalue()
        log(f"\n----- cProfile of deepff fit, case {key} (sorted by tottime) -----")
        # drop pstats' preamble lines up to the table
        lines = text.splitlines()
        start = next((i for i, ln in enumerate(lines) if "ncalls" in ln), 0)
        total = next((ln for ln in lines if "function calls" in ln), "")
        log(total.strip())
        log("\n".join(lines[start:]))
        out[key] = text
    return out


# --------------------------------------------------------------------------- report


def case_line(res):
    """One-line summary of a case's ratios, printed as soon as it finishes."""
    parts = []

    def one(tag, r):
        items = [f"{k}={v:.2f}" for k, v in r.items() if k.startswith("deepff/")]
        if items:
            parts.append((f"{tag}: " if tag else "") + " ".join(items))

    if "median_s" in res:
        one("", res)
    else:
        for tag, r in res.items():
            if isinstance(r, dict) and "median_s" in r:
                one(tag, r)
    if "diff" in res:
        parts.append(f"accuracy deepff-torch {100 * res['diff']:+.2f} points")
    return "; ".join(parts) if parts else "(see the report)"


def _tables(rows, labels):
    libs = ("deepff", "torch", "torchF", "torch1", "sklearn", "floor")

    # ratios (the result)
    hdr = (
        f"{'case':<27}{'df/torch':>9}{'goal':>7}{'':3}{'df/skl':>8}{'goal':>7}{'':3}"
        f"{'df/torchF':>10}{'df/torch1':>10}{'df/floor':>9}{'torch/fl':>9}{'skl/fl':>8}"
    )
    print("RATIOS (medians of per-round ratios; < 1 means deepff is faster)")
    print(hdr)
    print("-" * len(hdr))
    for k, r in rows:
        g = GOALS.get(k, (None, None))
        rt, rs = r.get("deepff/torch"), r.get("deepff/sklearn")
        print(
            f"{labels[k]:<27}{fmt_r(rt):>9}{('<=' + fmt_r(g[0])) if g[0] else '—':>7}"
            f"{goal_mark(rt, g[0]):<3}{fmt_r(rs):>8}{('<=' + fmt_r(g[1])) if g[1] else '—':>7}"
            f"{goal_mark(rs, g[1]):<3}{fmt_r(r.get('deepff/torchF')):>10}"
            f"{fmt_r(r.get('deepff/torch1')):>10}{fmt_r(r.get('deepff/floor')):>9}"
            f"{fmt_r(r.get('torch/floor')):>9}{fmt_r(r.get('sklearn/floor')):>8}"
        )
    print("-" * len(hdr))

    # times
    print()
    print("MEDIAN TIMES (training: one fit/epoch as defined per case; case 5: per call)")
    hdr = f"{'case':<27}" + "".join(f"{n:>12}" for n in libs)
    print(hdr)
    print("-" * len(hdr))
    for k, r in rows:
        print(f"{labels[k]:<27}" + "".join(f"{fmt_t(r['median_s'].get(n)):>12}" for n in libs))
    print("-" * len(hdr))
    print(
        "torch = 2 threads, torch.optim default (for-loop on CPU); torchF = the same with "
        "fused=True; torch1 = torch on 1 thread; floor = bare NumPy GEMMs of the same epoch."
    )

    # GFLOP/s
    print()
    print(
        "ACHIEVED GFLOP/s (matrix-product FLOPs only) "
        "and % of the measured matmul peak of that dtype"
    )
    hdr = f"{'case':<27}" + "".join(f"{n:>10}{'%pk':>5}" for n in libs)
    print(hdr)
    print("-" * len(hdr))
    for k, r in rows:
        if "gflops" not in r:
            continue
        s = f"{labels[k]:<27}"
        for n in libs:
            if n in r["gflops"]:
                s += f"{r['gflops'][n]:>10.1f}{r['pct_peak'][n]:>4.0f}%"
            else:
                s += f"{'—':>10}{'':>5}"
        print(s)
    print("-" * len(hdr))


def report(results, peaks):
    p32 = peaks["peak_float32"]
    print()
    print(
        f"matmul peak, 2048x2048, best of the medians at start and end of the run: float32 numpy "
        f"{peaks.get('numpy_float32', 0):.1f}, torch {peaks.get('torch_float32', float('nan')):.1f}"
        f" -> peak {p32:.1f} GFLOP/s; float64 numpy {peaks.get('numpy_float64', 0):.1f}, "
        f"torch {peaks.get('torch_float64', float('nan')):.1f} -> {peaks['peak_float64']:.1f}"
    )
    print()
    labels = {
        "1": "1 784-256-128-10 b128",
        "2": "2 784-1024-1024-10 b256",
        "3": "3 64-32-10 b32",
        "4-f64": "4 cat 12288-20-7-5-1 f64",
        "4-f32": "4 cat 12288-20-7-5-1 f32",
        "5-1row": "5 predict_proba 1 row",
        "5-10k": "5 predict_proba 10k rows",
    }
    rows = []
    for k in ("1", "2", "3"):
        if k in results:
            rows.append((k, results[k]))
    if "4" in results:
        rows += [("4-f64", results["4"]["float64"]), ("4-f32", results["4"]["float32"])]
    if "5" in results:
        rows += [("5-1row", results["5"]["1row"]), ("5-10k", results["5"]["10k"])]
    if rows:
        _tables(rows, labels)
    if "2" in results and "pct_peak" in results["2"] and "deepff" in results["2"]["pct_peak"]:
        pct = results["2"]["pct_peak"]["deepff"]
        print(
            f"case 2 goal: deepff >= {GOAL_PEAK_CASE2:.0%} of the float32 matmul peak: "
            f"{pct:.0f}%{goal_mark(pct / 100, GOAL_PEAK_CASE2, le=False)}"
        )
    for k in ("1", "2", "3"):
        if k in results and "sklearn_dtype" in results[k]:
            print(
                f"scikit-learn MLPClassifier weights dtype (case {k}): "
                f"{results[k]['sklearn_dtype']}"
            )
            break

    if "5" in results:
        r1 = results["5"]["1row"]
        r2 = results["5"]["10k"]
        print()
        print("case 5 details: 1-row latency median / p90; 10k rows throughput")
        for k in r1["median_s"]:
            print(
                f"  {k:<8} {fmt_t(r1['median_s'][k]):>10} / {fmt_t(r1['p90_s'][k]):>10}   "
                f"{r2['rows_per_s'][k] / 1e6:8.2f} M rows/s"
            )
    if "6" in results:
        r = results["6"]
        print()
        print(
            f"case 6: peak extra memory of one training epoch of case 1 (tracemalloc), "
            f"X float32 = {r['X_bytes'] / 2**20:.1f} MiB"
        )
        for k, v in r.items():
            if isinstance(v, dict):
                ok = ""
                if k.startswith("deepff float32"):
                    ok = (
                        "  ok (no second copy of X)"
                        if v["ratio_to_X32"] < 0.5
                        else "  MISS (copies X)"
                    )
                print(
                    f"  {k:<45} {v['peak_extra_bytes'] / 2**20:9.1f} MiB = "
                    f"{v['ratio_to_X32']:.3f} x X(float32){ok}"
                )
    if "acc" in results:
        r = results["acc"]
        print()
        print(
            f"ACCURACY after {r['epochs']} epochs of case 1 (learnable task, {r['train']} train / "
            f"{r['test']} test)"
            + ("; torch starts from deepff's initial weights" if r.get("same_init") else "")
        )
        for k in ("deepff", "torch"):
            if r.get(f"{k}_runs"):
                runs = ", ".join(f"{100 * a:.2f}" for a in r[f"{k}_runs"])
                print(f"  {k:<8} mean {100 * r[k]:.2f}%   runs: {runs}")
        if "sklearn" in r:
            print(f"  sklearn  {100 * r['sklearn']:.2f}% (own initialization, one run)")
        if "diff" in r:
            verdict = "PASS" if r["pass"] else "FAIL"
            print(
                f"  deepff - torch = {100 * r['diff']:+.2f} points -> {verdict} (goal: |diff| <= 1)"
            )


# --------------------------------------------------------------------------- main


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (smoke run)")
    ap.add_argument(
        "--cases",
        default="1,2,3,4,5,6,acc",
        help="comma-separated subset of 1,2,3,4,5,6,acc (default: all); none: only --profile",
    )
    ap.add_argument("--json", metavar="OUT", help="write every measurement to this JSON file")
    ap.add_argument(
        "--deepff-src",
        metavar="DIR",
        help="import deepff from DIR (a src/ folder, e.g. of `git archive COMMIT src`) "
        "instead of the installed or checked-out one",
    )
    ap.add_argument("--label", default="", help="free text printed in the header and JSON")
    ap.add_argument(
        "--wait-quiet",
        metavar="S",
        type=float,
        default=0.0,
        help="wait for other processes to leave the CPUs before each case, and discard and "
        "repeat every round during which they used > 0.3 cores; at most S s of waiting per case",
    )
    ap.add_argument(
        "--profile",
        metavar="CASES",
        default="",
        help="cProfile deepff's fit on these training cases (e.g. 1,3) and print the top functions",
    )
    args = ap.parse_args(argv)
    global dff, DFF_ERR
    if args.deepff_src:
        dff, DFF_ERR = _import_deepff(args.deepff_src)
    cases = [c.strip() for c in args.cases.split(",") if c.strip() and c.strip() != "none"]
    bad = [c for c in cases if c not in {"1", "2", "3", "4", "5", "6", "acc"}]
    if bad:
        ap.error(f"--cases: unknown case(s) {bad}; choose from 1,2,3,4,5,6,acc")
    reps = Reps(args.quick)

    def log(msg):
        print(msg, flush=True)

    info = header()
    info["label"] = args.label
    print_header(info)
    if dff is None:
        print(f"NOTE: deepff is not importable ({DFF_ERR}); its columns are left empty.")
    t0 = now()
    log("measuring matmul peak ...")
    peaks_start = matmul_peak(reps.peak)
    peaks = combine_peaks(peaks_start)
    QUIET["wait"], QUIET["log"] = args.wait_quiet, log
    results = {}
    external, discarded, flagged = {}, {}, []
    for c in cases:
        QUIET["deadline"] = now() + args.wait_quiet
        if args.wait_quiet > 0:
            wait_quiet(args.wait_quiet, log)
        tc = now()
        meter = CpuMeter()
        kept_busy0, discarded0 = QUIET["kept_busy"], QUIET["discarded"]
        if c in ("1", "2", "3"):
            results[c] = case_train(c, reps.train[c], peaks["peak_float32"], log)
        elif c == "4":
            results[c] = case_cat(reps.train["4"], peaks, log)
        elif c == "5":
            results[c] = case_infer(reps, peaks["peak_float32"], log)
        elif c == "6":
            results[c] = case_memory(log)
        elif c == "acc":
            results[c] = case_accuracy(reps.acc_epochs, log)
        ext = meter.external_cores()
        external[c] = ext
        kept_busy = QUIET["kept_busy"] - kept_busy0
        discarded[c] = QUIET["discarded"] - discarded0
        timed = c in ("1", "2", "3", "4", "5")
        if timed and (kept_busy if args.wait_quiet > 0 else ext > BUSY):
            flagged.append(c)
        log(
            f"    ({now() - tc:.1f} s; outside load {ext:.2f} cores"
            + (f", {discarded[c]} busy rounds discarded" if discarded[c] else "")
            + ("  <-- BUSY: ratios vs torch unreliable" if c in flagged else "")
            + ")"
        )
        log("    " + case_line(results[c]))
        if args.json:  # partial results survive an interrupted run
            with open(args.json, "w") as fh:
                json.dump({"info": info, "partial": True, "results": results}, fh, default=str)
    prof = {}
    if args.profile:
        if dff is None:
            log("--profile: deepff is not importable; skipped")
        else:
            prof = profile_deepff([k for k in args.profile.split(",") if k in ("1", "2", "3")], log)
    log("measuring matmul peak again ...")
    peaks_end = matmul_peak(reps.peak)
    peaks = combine_peaks(peaks_start, peaks_end)
    # percentages of peak were computed against the start peak: recompute
    for c, r in results.items():
        for rr in [r] if c in ("1", "2", "3") else list(r.values()) if c in ("4", "5") else []:
            if isinstance(rr, dict) and "gflops" in rr:
                dt = "float64" if rr is results.get("4", {}).get("float64") else "float32"
                rr["pct_peak"] = {k: 100 * g / peaks[f"peak_{dt}"] for k, g in rr["gflops"].items()}
    peaks["start"], peaks["end"] = peaks_start, peaks_end
    try:
        info["loadavg_end"] = os.getloadavg()
    except OSError:
        pass
    print()
    print("=" * 100)
    report(results, peaks)
    print()
    print(
        "outside load per case (cores used by other processes while it ran): "
        + ", ".join(f"{c}: {v:.2f}" for c, v in external.items())
    )
    if args.wait_quiet > 0:
        print(
            f"--wait-quiet: {sum(discarded.values())} rounds discarded because other processes "
            f"used > {BUSY} cores during them, and run again"
        )
    if flagged:
        print(
            f"WARNING: cases {flagged} were timed while other processes used > {BUSY} cores. "
            "Two-thread runs (NumPy's OpenBLAS, torch's OpenMP) then slow down many-fold, "
            "each by a different factor, so these ratios mean little. Re-run on a quiet machine "
            "(--wait-quiet 1800)."
        )
    print()
    if "loadavg_end" in info:
        print(
            "load at end: {:.2f} {:.2f} {:.2f} (1/5/15 min); ".format(*info["loadavg_end"]), end=""
        )
    print(f"total wall time {now() - t0:.0f} s{' (--quick)' if args.quick else ''}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(
                {
                    "info": info,
                    "quick": args.quick,
                    "peaks": peaks,
                    "results": results,
                    "outside_load_cores": external,
                    "discarded_rounds": discarded,
                    "flagged_cases": flagged,
                    "profiles": prof,
                },
                fh,
                indent=1,
                default=str,
            )
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
