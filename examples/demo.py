"""The main job of `make demo`: train a network on scikit-learn's digits, print test accuracy."""

from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import deepff as dff

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X / 16.0, y, test_size=0.25, random_state=0, stratify=y
)
net = dff.Network(
    [
        dff.Dense(64, activation="relu"),
        dff.Dropout(0.1),
        dff.Dense(32, activation="relu", batch_norm=True),
        dff.Dense(10, activation="softmax"),
    ],
    optimizer=dff.Adam(learning_rate=1e-3),
    seed=0,
)
net.fit(X_train, y_train, epochs=40, batch_size=32, validation_split=0.1, verbose=1)
net.summary()
print(f"test accuracy: {net.evaluate(X_test, y_test)['accuracy']:.4f}")
