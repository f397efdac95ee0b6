"""The version of deepff: the one place it is written (the package, the model files and the
command all read it from here).

Examples
--------
>>> from deepff._version import __version__
>>> __version__
'0.1.0'
"""

__version__ = "0.1.0"
