"""SIGNS hand signs, six classes: the course's network, then a plain MLP tuned to >= 0.95.

Part 1 trains the deeplearning.ai course 2 "TensorFlow Tutorial" network, 12288-25-12-6
(ReLU, softmax, Glorot-uniform "Xavier" initialization, zero biases), with Adam at 1e-4 for
1500 epochs of mini-batches of 32, on the course's 1080 training images (the CS230 release's
train + val), and tests it on the course's own 120 test images (``test_signs.h5``). Published:
train accuracy 0.999, test accuracy 0.717 (one TensorFlow run).

Part 2 is still a plain multilayer perceptron — dense layers on a vector of pixels, no
convolution, no pretrained features — with the paper's tools and three cheap input tricks:

- the photos are downsampled by block averaging (64x64 to 32x32 or 16x16): fewer inputs,
  less noise, 4 to 16 times fewer weights in the first layer;
- every pixel is standardized with the training images' mean and standard deviation;
- the training images are augmented afresh every epoch: a random shift of up to 1/8 of the
  side (edge pixels repeated) and a random left-right flip (a mirrored hand shows the same
  number of fingers).

The network is Dense(1024) - Dense(512) - Dense(6) with batch normalization and dropout after
each hidden layer, Adam at 1e-3 with inverse-time decay, and early stopping on the
validation images (the weights of the best validation epoch are kept). A small search on the
216 validation images chooses the resolution, the dropout rate and whether to augment; the
chosen setting is then trained with several seeds and tested once on the 120 test images,
first as searched (864 training images, early stopping on the 216 validation images), then
retrained on all 1080 training images — the course network's training set — for the median
best epoch of those runs.

    python examples/hand_signs.py [--data DIR] [--out DIR] [--seeds N] [--quick]

Writes into --out (default runs/hand_signs): results.md/.csv, tuning.md/.csv, and figures.
"""

from __future__ import annotations

import itertools
import time

import numpy as np
from _common import (
    confusion,
    environment,
    log,
    mislabeled_grid,
    parse_args,
    read_h5,
    spread,
    write_table,
)

import deepff as dff
from deepff.io import plots

CLASSES = [0, 1, 2, 3, 4, 5]
NAMES = [str(c) for c in CLASSES]
PUBLISHED = {"train": 0.999, "test": 0.717}


def load(data_dir):
    with np.load(data_dir / "signs_cs230_64x64.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in ("train_x", "train_y", "val_x", "val_y", "test_x", "test_y")}
    arrays["course_test_x"], course_test_y = read_h5(
        data_dir / "test_signs.h5", "test_set_x", "test_set_y"
    )
    arrays["course_test_y"] = course_test_y.reshape(-1).astype(np.int64)
    return arrays


def flat(images) -> np.ndarray:
    return images.reshape(images.shape[0], -1)


def evaluate(net, X, y):
    predicted = net.predict(X)
    return float(np.mean(predicted == y)), predicted


# --- part 1: the course's network ------------------------------------------------------------


def part1(args, data, quick):
    epochs = 2 if quick else 1500
    X = flat(np.concatenate([data["train_x"], data["val_x"]])).astype(np.float32) / 255.0
    y = np.concatenate([data["train_y"], data["val_y"]])
    X_test = flat(data["course_test_x"]).astype(np.float32) / 255.0
    X_jpeg = flat(data["test_x"]).astype(np.float32) / 255.0
    trains, tests, jpegs, first = [], [], [], None
    for seed in range(args.seeds):
        net = dff.Network(
            [
                dff.Dense(25, activation="relu", init="glorot_uniform"),
                dff.Dense(12, activation="relu", init="glorot_uniform"),
                dff.Dense(6, activation="softmax", init="glorot_uniform"),
            ],
            optimizer=dff.Adam(1e-4),
            seed=seed,
        )
        start = time.perf_counter()
        history = net.fit(X, y, epochs=epochs, batch_size=32, verbose=0)
        trains.append(evaluate(net, X, y)[0])
        test, predicted = evaluate(net, X_test, data["course_test_y"])
        tests.append(test)
        jpegs.append(evaluate(net, X_jpeg, data["test_y"])[0])
        log(
            f"course network, seed {seed}: train {trains[-1]:.3f}, test {test:.3f} "
            f"({time.perf_counter() - start:.0f} s)"
        )
        if first is None:
            first = (history, predicted)
    history, predicted = first
    plots.learning_curves(
        history,
        args.out / "course_learning_curves.png",
        title="course network 12288-25-12-6, Adam 1e-4, mini-batch 32 (seed 0)",
    )
    plots.confusion_matrix(
        confusion(data["course_test_y"], predicted, CLASSES),
        NAMES,
        args.out / "course_confusion.png",
        title="course network (seed 0), course test set",
    )
    return row(
        "course 12288-25-12-6, Adam 1e-4, 1500 epochs",
        "64x64x3 / 255",
        epochs,
        trains,
        None,
        tests,
        jpegs,
        published=True,
    )


def row(label, inputs, epochs, trains, vals, tests, jpegs, published=False):
    t = spread(tests)
    return {
        "network": label,
        "inputs": inputs,
        "epochs": epochs,
        "seeds": t["n"],
        "train acc (published)": f"{PUBLISHED['train']:.3f}" if published else "",
        "train acc mean": spread(trains)["mean"],
        "val acc mean": spread(vals)["mean"] if vals else "",
        "test acc (published)": f"{PUBLISHED['test']:.3f}" if published else "",
        "test acc median": t["median"],
        "test acc mean": t["mean"],
        "test acc min": t["min"],
        "test acc max": t["max"],
        "test acc per seed": " ".join(f"{v:.3f}" for v in tests),
        "JPEG test acc mean": spread(jpegs)["mean"],
    }


# --- part 2: a plain MLP, tuned --------------------------------------------------------------


def downsample(images, factor: int) -> np.ndarray:
    """Block-average (m, h, w, c) uint8 images by ``factor``; float32 in [0, 1]."""
    x = images.astype(np.float32) / 255.0
    if factor == 1:
        return x
    m, h, w, c = x.shape
    return x.reshape(m, h // factor, factor, w // factor, factor, c).mean(axis=(2, 4))


def augment(images, rng) -> np.ndarray:
    """Shift each image by up to 1/8 of its side (edges repeated) and flip half of them."""
    m, h, w, _ = images.shape
    shift = max(1, h // 8)
    padded = np.pad(images, ((0, 0), (shift, shift), (shift, shift), (0, 0)), mode="edge")
    dy = rng.integers(0, 2 * shift + 1, m)
    dx = rng.integers(0, 2 * shift + 1, m)
    out = np.empty_like(images)
    for i in range(m):
        out[i] = padded[i, dy[i] : dy[i] + h, dx[i] : dx[i] + w]
    flip = rng.random(m) < 0.5
    out[flip] = out[flip, :, ::-1]
    return out


def mlp(dropout, seed, units=(1024, 512)):
    layers = []
    for n in units:
        layers += [dff.Dense(n, activation="relu", batch_norm=True), dff.Dropout(dropout)]
    layers.append(dff.Dense(6, activation="softmax"))
    return dff.Network(
        layers, optimizer=dff.Adam(dff.InverseTimeDecay(1e-3, decay=0.02)), seed=seed
    )


def train_mlp(data, setting, seed, epochs, patience, final=False):
    """Train one MLP; returns (net, history).

    By default it trains on the 864 'train' images and keeps the weights of its best
    validation epoch (early stopping with ``patience``). With ``final=True`` it trains on all
    1080 training images (train + val, the course network's training set) for exactly
    ``epochs`` epochs, with nothing held out.
    """
    factor, dropout, augmented = setting["factor"], setting["dropout"], setting["augment"]
    if final:
        images = np.concatenate([data["train_x"], data["val_x"]])
        y = np.concatenate([data["train_y"], data["val_y"]])
    else:
        images, y = data["train_x"], data["train_y"]
    train = downsample(images, factor)
    mean = flat(train).mean(axis=0)
    std = flat(train).std(axis=0) + 1e-3

    def features(images):
        return (flat(images) - mean) / std

    validation = None if final else (features(downsample(data["val_x"], factor)), data["val_y"])
    net = mlp(dropout, seed)
    rng = np.random.default_rng(10_000 + seed)  # the augmentation's own stream
    history = {"loss": [], "accuracy": []}
    if not final:
        history.update(val_loss=[], val_accuracy=[])
    best, best_epoch, best_state = -1.0, 0, None
    X = features(train)
    for epoch in range(epochs):
        if augmented:  # fresh shifts and flips every epoch
            X = features(augment(train, rng))
        logs = net.fit(X, y, epochs=1, batch_size=64, validation_data=validation, verbose=0).history
        for key in history:
            history[key].append(logs[key][0])
        if final:
            continue
        if logs["val_accuracy"][0] > best:
            best, best_epoch, best_state = logs["val_accuracy"][0], epoch, net.get_state()
        elif epoch - best_epoch >= patience:
            break
    if not final:
        net.set_state(best_state)
        net.best_epoch = best_epoch + 1
    net.features = lambda images: features(downsample(images, factor))
    return net, history


def settings(quick):
    if quick:
        return [
            {"factor": 4, "dropout": 0.2, "augment": True},
            {"factor": 4, "dropout": 0.4, "augment": False},
        ]
    return [
        {"factor": f, "dropout": d, "augment": a}
        for f, d, a in itertools.product([2, 4], [0.2, 0.4], [False, True])
    ]


def describe(setting) -> str:
    side = 64 // setting["factor"]
    return (
        f"{side}x{side}x3, dropout {setting['dropout']:g}, "
        f"{'shifts + flips' if setting['augment'] else 'no augmentation'}"
    )


def part2(args, data, quick):
    epochs, patience = (2, 1) if quick else (150, 40)
    # The search: one seed per setting, scored on the validation images only.
    results = []
    for setting in settings(quick):
        start = time.perf_counter()
        net, history = train_mlp(data, setting, seed=0, epochs=epochs, patience=patience)
        best = net.best_epoch - 1
        results.append(
            {
                "setting": describe(setting),
                "val acc": history["val_accuracy"][best],
                "val loss": history["val_loss"][best],
                "best epoch": net.best_epoch,
                "train acc (that epoch)": history["accuracy"][best],
                "seconds": round(time.perf_counter() - start),
                "_setting": setting,
            }
        )
        log(
            f"search {describe(setting)}: val {results[-1]['val acc']:.3f} at epoch "
            f"{net.best_epoch} ({results[-1]['seconds']} s)"
        )
    results.sort(key=lambda r: (-r["val acc"], r["val loss"]))
    chosen = results[0]["_setting"]
    table_rows = [{k: v for k, v in r.items() if not k.startswith("_")} for r in results]
    tuning_note = (
        "One seed per setting; each trains up to "
        f"{epochs} epochs and keeps its best validation epoch (patience {patience}). "
        "Network 1024-512-6, batch normalization and dropout after each hidden layer, Adam 1e-3 "
        "with inverse-time decay 0.02, mini-batch 64. Ranked by validation accuracy, then "
        "validation loss. The test images play no part."
    )
    tuning = write_table(
        table_rows, args.out / "tuning", "The search, on the 216 validation images", tuning_note
    )

    # The chosen setting over seeds (early stopping on the validation images); then the same
    # retrained on all 1080 training images for the median best epoch, as the course network
    # is trained on all of them; and, if it augments, the same without augmentation.
    rows, figures, headline = [], None, None
    X_course = data["course_test_x"]
    variants = [("deepff MLP, tuned", chosen, False)]
    if chosen["augment"]:
        variants.append(("same, without augmentation", {**chosen, "augment": False}, False))
    variants.insert(1, ("tuned, retrained on train + val", chosen, True))
    best_epochs = []
    for label, setting, final in variants:
        trains, vals, tests, jpegs, runs = [], [], [], [], []
        n_epochs = int(np.median(best_epochs)) if final else epochs
        for seed in range(args.seeds):
            start = time.perf_counter()
            net, history = train_mlp(data, setting, seed, n_epochs, patience, final=final)
            if final:
                X_all = np.concatenate([data["train_x"], data["val_x"]])
                y_all = np.concatenate([data["train_y"], data["val_y"]])
                trains.append(evaluate(net, net.features(X_all), y_all)[0])
            else:
                trains.append(evaluate(net, net.features(data["train_x"]), data["train_y"])[0])
                vals.append(evaluate(net, net.features(data["val_x"]), data["val_y"])[0])
                if setting is chosen:
                    best_epochs.append(net.best_epoch)
            test, predicted = evaluate(net, net.features(X_course), data["course_test_y"])
            tests.append(test)
            jpegs.append(evaluate(net, net.features(data["test_x"]), data["test_y"])[0])
            runs.append((test, seed, history, predicted))
            log(
                f"{label} ({describe(setting)}, {n_epochs} epochs), seed {seed}: "
                f"{'' if final else f'val {vals[-1]:.3f}, '}test {test:.3f} "
                f"({time.perf_counter() - start:.0f} s)"
            )
        side = 64 // setting["factor"]
        rows.append(
            row(
                f"{label}: 1024-512-6, BN, dropout {setting['dropout']:g}",
                f"{side}x{side}x3 standardized"
                + (", shifts + flips" if setting["augment"] else ""),
                n_epochs if final else f"<= {epochs}, best val",
                trains,
                vals,
                tests,
                jpegs,
            )
        )
        runs.sort(key=lambda r: r[0])
        if figures is None:
            figures = runs[len(runs) // 2]  # the median seed: learning curves with validation
        if final:
            headline = runs[len(runs) // 2]  # the median seed: confusion matrix, mistakes
    _, seed, history, _ = figures
    plots.learning_curves(
        history,
        args.out / "mlp_learning_curves.png",
        title=f"tuned MLP ({describe(chosen)}), seed {seed}",
    )
    _, seed, _, predicted = headline
    plots.confusion_matrix(
        confusion(data["course_test_y"], predicted, CLASSES),
        NAMES,
        args.out / "mlp_confusion.png",
        title=f"MLP retrained on train + val, seed {seed} (median), test",
    )
    mislabeled_grid(
        X_course,
        data["course_test_y"],
        predicted,
        NAMES,
        args.out / "mlp_mislabeled.png",
        f"MLP retrained on train + val, seed {seed}, course test set",
    )
    return rows, tuning


def main():
    args = parse_args("hand_signs", __doc__.split("\n\n")[0], default_seeds=3)
    data = load(args.data)
    log(
        f"SIGNS: {len(data['train_y'])} training, {len(data['val_y'])} validation, "
        f"{len(data['course_test_y'])} test images; {environment()}"
    )
    rows = [part1(args, data, args.quick)]
    mlp_rows, tuning = part2(args, data, args.quick)
    rows += mlp_rows
    note = (
        "Test accuracy on the course's 120 test images (test_signs.h5; one image is 0.008). "
        "'JPEG test' is the same 120 photos decoded from the CS230 JPEG release. The course "
        "network trains on all 1080 training images (train + val); the MLPs train on the 864 "
        "'train' images and use the 216 'val' images for early stopping and the search, except "
        "'retrained on train + val', which trains on all 1080 for the median best epoch of the "
        "tuned runs. "
        "Published figures: the course notebook, one TensorFlow run."
    )
    table = write_table(rows, args.out / "results", "SIGNS: accuracy over seeds", note)
    header = "# SIGNS hand signs\n\n" + (
        "**--quick run: a smoke test, the numbers mean nothing.**\n\n" if args.quick else ""
    )
    (args.out / "results.md").write_text(header + table + "\n" + tuning + f"\n{environment()}\n")
    log(f"wrote {args.out / 'results.md'}")


if __name__ == "__main__":
    main()
