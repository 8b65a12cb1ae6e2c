"""What an LM's tokens cost, for the compile plan, the usage report and ``max_cost``.

Prices are US dollars per million input (prompt) and output (completion) tokens. They come
from the config's ``prices`` table first (keyed by the LM name as configured, or by the model
name, with or without a provider prefix), then from the runtime's table
(:func:`castlm.observe._pricing.price_of`: ``castlm.set_prices`` and litellm's table when litellm is
installed). The offline stand-in is free. Anything else is *unpriced*: its cost is None and
never silently 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from castlm import LM
from castlm.lm._lm_factory import STANDIN
from castlm.observe._pricing import price_of

Price = tuple[float, float]


@dataclass(frozen=True)
class PriceBook:
    """The prices one compile uses: the config's table, then the runtime's."""

    table: Mapping[str, Price] = field(default_factory=dict)

    def price(self, name: str, model: str | None = None) -> Price | None:
        """The price of the LM configured as ``name`` (whose model is ``model``)."""
        for key in _keys(name, model):
            if key in self.table:
                return self.table[key]
        if name == STANDIN:
            return (0.0, 0.0)  # it never leaves the process
        for key in _keys(name, model):
            found = price_of(key)
            if found is not None:
                return found
        return None

    def price_of_lm(self, name: str, lm: LM) -> Price | None:
        return self.price(name, lm.model)


def cost(price: Price | None, prompt_tokens: int, completion_tokens: int) -> float | None:
    """US dollars for the tokens, or None when the price is unknown."""
    if price is None:
        return None
    return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1_000_000


def add_costs(*costs: float | None) -> float | None:
    """The sum, or None when any part is unknown (a partial sum would understate it)."""
    total = 0.0
    for value in costs:
        if value is None:
            return None
        total += value
    return total


def _keys(name: str, model: str | None) -> list[str]:
    """``name``, ``model``, and each without its first provider prefix, once each."""
    candidates = [name, model or "", _bare(name), _bare(model or "")]
    return list(dict.fromkeys(c for c in candidates if c))


def _bare(name: str) -> str:
    return name.split("/", 1)[1] if "/" in name else name
