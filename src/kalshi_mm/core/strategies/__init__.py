"""Quoting strategies. ``STRATEGIES`` maps a config name to the strategy class; each class has
``Params``, the dataclass of its parameters (defaults in the strategy's module)."""

from __future__ import annotations

from typing import Any

from kalshi_mm.core.strategies.avellaneda_stoikov import AvellanedaStoikov, AvellanedaStoikovParams
from kalshi_mm.core.strategies.base import QuoteContext, Strategy, TargetOrder, to_grid
from kalshi_mm.core.strategies.dual_sided import DualSided, DualSidedParams
from kalshi_mm.core.strategies.spread_capture import SpreadCapture, SpreadCaptureParams
from kalshi_mm.errors import ConfigError

STRATEGIES: dict[str, type] = {
    "spread_capture": SpreadCapture,
    "avellaneda_stoikov": AvellanedaStoikov,
    "dual_sided": DualSided,
}


def strategy_params(name: str, params: Any = None) -> Any:
    """The params dataclass of strategy ``name`` from None (defaults), a dict or a dataclass."""
    try:
        cls = STRATEGIES[name]
    except KeyError:
        raise ConfigError(f"unknown strategy {name!r}; known: {', '.join(sorted(STRATEGIES))}") from None
    pcls = cls.Params  # type: ignore[attr-defined]
    if params is None:
        return pcls()
    if isinstance(params, pcls):
        return params
    if isinstance(params, dict):
        try:
            return pcls(**params)
        except TypeError as e:
            raise ConfigError(f"bad parameters for strategy {name!r}: {e}") from None
    raise ConfigError(f"strategy {name!r} params must be a dict or {pcls.__name__}, got {type(params).__name__}")


__all__ = [
    "STRATEGIES",
    "AvellanedaStoikov",
    "AvellanedaStoikovParams",
    "DualSided",
    "DualSidedParams",
    "QuoteContext",
    "SpreadCapture",
    "SpreadCaptureParams",
    "Strategy",
    "TargetOrder",
    "strategy_params",
    "to_grid",
]
