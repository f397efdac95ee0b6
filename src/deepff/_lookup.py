"""String-or-object lookup, one per kind of object (Keras's ``get``)."""

from __future__ import annotations

from ._checks import describe


def lookup(kind: str, identifier, table: dict, base: type):
    """Return an instance of ``base`` named by ``identifier``.

    ``identifier`` is an instance of ``base`` (returned as it is), a name in ``table``, or a
    config dict ``{"name": ..., **arguments}`` as written by ``get_config``.
    """
    if isinstance(identifier, base):
        return identifier
    if isinstance(identifier, str):
        name, arguments = identifier, {}
    elif isinstance(identifier, dict) and isinstance(identifier.get("name"), str):
        arguments = {k: v for k, v in identifier.items() if k != "name"}
        name = identifier["name"]
    else:
        raise TypeError(
            f"{kind} must be a name, a config dict or a {base.__name__}; "
            f"got {describe(identifier)}. Valid names: {', '.join(sorted(table))}"
        )
    key = name.lower()
    if key not in table:
        raise ValueError(f"unknown {kind} {name!r}; valid names: {', '.join(sorted(table))}")
    try:
        return table[key](**arguments)
    except TypeError as error:
        raise TypeError(f"bad arguments for {kind} {name!r}: {error}") from None
