"""``deepff explain``: the paper's worked example, computed and printed equation by equation.

By default the network of the paper's Fig. 1 (3 inputs; 5, 3 and 1 units; ReLU, ReLU,
sigmoid; binary cross-entropy) on a few examples: every forward step, the cost, every
backward step, the general vectorized forms with the shape of every array and one step of
the optimizer, each with its numbers, followed by the checks that the values equal the
vectorized engine's and the central-difference gradient (``deepff.explain``).

Examples
--------
>>> from deepff.cli import build_parser
>>> args = build_parser().parse_args(["explain", "--layers", "4,2", "--activation", "tanh"])
>>> args.layers, args.activation, args.examples
('4,2', 'tanh', 2)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..explain import explain, paper_examples, paper_network
from ..runs.options import parse_layers
from .common import CommandError, int_at_least


def add_parser(commands, common, name="explain"):
    """Add ``deepff explain`` to the subcommands ``commands``.

    Examples
    --------
    >>> from deepff.cli import build_parser
    >>> build_parser().parse_args(["explain", "--json"]).json
    True
    """
    parser = commands.add_parser(
        name,
        parents=[common],
        help="the paper's worked example (Fig. 1), computed equation by equation",
        description="Compute forward propagation, the cost, backpropagation and one optimizer "
        "step of a small network unit by unit, with the paper's equations and their numbers, "
        "and check them against the vectorized engine and central differences.",
    )
    parser.add_argument(
        "--layers",
        default="5,3,1",
        metavar="N,N,...",
        help="units of every layer, the output last (default: 5,3,1, Fig. 1)",
    )
    parser.add_argument(
        "--activation",
        default="relu",
        help="hidden activation, or one per layer: relu,tanh,sigmoid",
    )
    parser.add_argument("--loss", default="auto", help="default: from the output activation")
    parser.add_argument("--optimizer", default="sgd", help="sgd, momentum, rmsprop or adam")
    parser.add_argument("--inputs", type=int_at_least(1), default=3, metavar="N")
    parser.add_argument("--examples", type=int_at_least(1), default=2, metavar="M")
    parser.add_argument("--seed", type=int_at_least(0), default=0, metavar="N")
    parser.add_argument("--html", metavar="FILE.html", help="also write the page with equations")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.set_defaults(func=cmd_explain)
    return parser


def _network(args):
    layers = parse_layers(args.layers)
    if not layers:
        raise CommandError("explain: --layers needs at least the output layer, e.g. 5,3,1")
    names = [name.strip() for name in args.activation.split(",") if name.strip()]
    if len(names) == 1:
        output = "sigmoid" if layers[-1] == 1 else "softmax"
        names = names * (len(layers) - 1) + [output]
    return paper_network(
        layers,
        names,
        loss=args.loss,
        optimizer=args.optimizer,
        n_inputs=args.inputs,
        seed=args.seed,
    )


def cmd_explain(args):
    """Run ``deepff explain``: print the steps (or JSON), optionally write the page.

    Examples
    --------
    >>> from deepff.cli import build_parser
    >>> args = build_parser().parse_args(["explain", "--layers", "2,1", "--inputs", "2",
    ...                                   "--examples", "1"])
    >>> cmd_explain(args)  # doctest: +ELLIPSIS
    network: Network([Dense(units=2, activation='relu'), Dense(units=1, activation='sigmoid')]...
    == forward ==
    (11) z[1]_1(1) = ...
    0
    """
    network = _network(args)
    X, Y = paper_examples(network, m=args.examples, seed=args.seed)
    result = explain(network, X, Y)
    if args.html:
        from ..io.pages import explanation_page
        from ..serialization import write_atomically

        page = explanation_page(result)
        write_atomically(args.html, lambda tmp: Path(tmp).write_text(page, encoding="utf-8"))
    if args.json:
        json.dump(result.to_dict(), sys.stdout, indent=1)
        print()
    else:
        print(result.to_text())
        if args.html:
            print(f"\nWrote {args.html}")
    return 0


__all__ = ["add_parser", "cmd_explain"]
