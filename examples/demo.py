"""A first network on scikit-learn's digits, in a dozen lines of Python (what ``make demo`` does
through the command line): a 64-32-10 network with dropout and batch normalization, trained by
Adam with early stopping, then evaluated, saved and loaded back.

    python examples/demo.py [--out runs/demo_py]
"""

import argparse
from pathlib import Path

from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import deepff as dff


def main(out: Path) -> dict:
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, random_state=0, stratify=y)
    net = dff.Network(
        [dff.Dense(64, activation="relu"), dff.Dropout(0.1),
         dff.Dense(32, activation="relu", batch_norm=True),
         dff.Dense(10, activation="softmax")],
        optimizer=dff.Adam(learning_rate=1e-3), seed=0)  # fmt: skip
    net.fit(X_train, y_train, epochs=30, batch_size=32, validation_split=0.1, verbose=0,
            callbacks=[dff.EarlyStopping(patience=5, restore_best_weights=True)])  # fmt: skip
    net.summary()
    out.mkdir(parents=True, exist_ok=True)
    net.save(out / "digits.safetensors")
    same = dff.load(out / "digits.safetensors")
    metrics = same.evaluate(X_test, y_test)
    print(f"test loss {metrics['loss']:.4f}, test accuracy {metrics['accuracy']:.4f}")
    return metrics


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/demo_py"))
    main(parser.parse_args().out)
