"""Runs: the options of a training run, its preprocessing, data preparation, the network the
options describe, and a run directory with its files.

The third ring: these modules may import ``deepff.io`` and the engine, never ``tuning``,
``estimators`` or ``cli``; ``deepff train``, ``deepff tune`` and the estimators all use them.

- ``options``: the one table of options (``OPTIONS``, ``TRAIN_OPTIONS``, ``check_options``);
- ``preprocessing``: ``Preprocessor``, fitted on the training rows, saved in the model file;
- ``prepare``: the split and the prepared arrays (``plan_split``, ``prepare_rows``, ``prepare``);
- ``build``: ``build_network`` and ``make_optimizer`` from options;
- ``run``: ``Run`` (a run directory), ``save_model`` / ``load_model`` (its model file).
"""
