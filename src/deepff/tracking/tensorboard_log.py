"""A callback that writes each epoch's metrics as TensorBoard event files.

The event files are written with TensorBoard's own writer (``tensorboard`` package; no
TensorFlow or PyTorch needed): one scalar per metric and epoch, tagged as logged (``loss``,
``val_loss``, ``accuracy``, ...) and the learning rate as ``learning_rate`` when the
optimizer has one. ``tensorboard --logdir DIR`` shows them.

Examples
--------
>>> import tempfile
>>> import numpy as np
>>> import deepff as dff
>>> folder = tempfile.mkdtemp()
>>> net = dff.Network([dff.Dense(1, activation="sigmoid")], seed=0)
>>> _ = net.fit(np.eye(2), [0, 1], epochs=2, verbose=0, callbacks=[TensorBoardCallback(folder)])
>>> from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
>>> events = EventAccumulator(folder).Reload()
>>> [e.step for e in events.Scalars("loss")]
[1, 2]
"""

from __future__ import annotations

import os
import time

from ..callbacks import Callback, finite_logs


class TensorBoardCallback(Callback):
    """Write the metrics of each epoch into TensorBoard event files under ``log_dir``.

    Parameters
    ----------
    log_dir : str or os.PathLike
        The folder of the event files (made if missing), what ``tensorboard --logdir``
        reads.

    Examples
    --------
    >>> TensorBoardCallback("runs/tb").log_dir
    'runs/tb'
    """

    def __init__(self, log_dir):
        self.log_dir = os.fspath(log_dir)
        self._writer = None

    def on_train_begin(self, logs=None):
        try:
            from tensorboard.summary.writer.event_file_writer import EventFileWriter
        except ImportError:  # pragma: no cover - depends on the environment
            raise ImportError(
                "--tensorboard needs the tensorboard package: pip install 'deepff[tracking]'"
            ) from None
        os.makedirs(self.log_dir, exist_ok=True)
        self._writer = EventFileWriter(self.log_dir)

    def on_epoch_end(self, epoch, logs=None):
        if self._writer is None:
            return
        from tensorboard.compat.proto import event_pb2, summary_pb2

        values = [
            summary_pb2.Summary.Value(tag=name, simple_value=value)
            for name, value in finite_logs(logs).items()
        ]
        rate = getattr(getattr(self.network, "optimizer", None), "learning_rate", None)
        if isinstance(rate, (int, float)):
            values.append(summary_pb2.Summary.Value(tag="learning_rate", simple_value=rate))
        event = event_pb2.Event(
            wall_time=time.time(), step=int(epoch) + 1, summary=summary_pb2.Summary(value=values)
        )
        self._writer.add_event(event)
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


__all__ = ["TensorBoardCallback"]
