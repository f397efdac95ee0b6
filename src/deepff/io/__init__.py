"""Files: data loaders (``datasets``), figures (``plots``), ONNX export and TOML.

The second ring: these modules may import the engine (``deepff.*``), never ``runs``,
``tuning``, ``estimators`` or ``cli``. Heavy libraries (pandas, h5py, matplotlib, onnx) are
imported by the function that needs them, so importing this package costs nothing.
"""
