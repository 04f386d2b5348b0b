"""``kmm``: the command line.

Each area registers its own commands from a ``cmd`` module (``kalshi_mm.<area>.cmd``) exposing
``register(app)``, so the CLI stays one place while the areas stay independent.
"""

from __future__ import annotations

import importlib

import typer

from kalshi_mm import __version__

app = typer.Typer(
    name="kmm",
    help="kalshi-mm: market making on Kalshi prediction markets (live, paper, backtest).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

COMMAND_MODULES = (
    "kalshi_mm.exchange.cmd",
    "kalshi_mm.venue.cmd",
    "kalshi_mm.runtime.cmd",
    "kalshi_mm.research.cmd",
)


@app.callback()
def _root() -> None:
    """kalshi-mm: market making on Kalshi prediction markets (live, paper, backtest)."""


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def _register_all() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:  # that area has no commands (yet); anything else is a real error
                continue
            raise
        module.register(app)


_register_all()


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
