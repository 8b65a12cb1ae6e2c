"""Model prices, for turning token counts into money.

Prices come from a table the application sets (:func:`set_prices`, US dollars per million
input and output tokens), else from litellm's price table when litellm is installed (read
from its package data, not by importing it). The table is read only when a price is
missing, and at most once: cost is computed when a usage report is read, never on the request path.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..base._errors import ConfigurationError
from ..base._narrow import is_mapping, is_object

Price = tuple[float, float]
"""US dollars per million input (prompt) tokens and per million output (completion) tokens."""

_table: dict[str, Price] = {}
_lock = threading.Lock()
_litellm_table: dict[str, Any] | None = None
_litellm_loaded = False
#: The price table litellm ships in its wheel (what it falls back to offline).
_LITELLM_TABLE = "model_prices_and_context_window_backup.json"


def set_prices(prices: Mapping[str, Price], *, replace: bool = False) -> None:
    """Add (or, with ``replace=True``, replace all) prices, e.g.
    ``castlm.set_prices({"gpt-4o-mini": (0.15, 0.60)})``.

    A key matches the model name a response reports, the requested name, the name without a
    provider prefix (``openai/``), and dated snapshots (``gpt-4o-mini-2024-07-18``).
    """
    checked = {name: _checked(name, price) for name, price in prices.items()}
    with _lock:
        if replace:
            _table.clear()
        _table.update(checked)


def prices() -> dict[str, Price]:
    """A copy of the price table set with :func:`set_prices`."""
    with _lock:
        return dict(_table)


def price_of(model: str) -> Price | None:
    """The price of ``model``: the table first, then litellm's, else None."""
    with _lock:
        found = _lookup(model, _table)
    if found is not None:
        return found
    return _litellm_price(model)


def cost_of(model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
    """US dollars for the given tokens of ``model``; None when its price is unknown."""
    price = price_of(model)
    if price is None:
        return None
    return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1_000_000


def _checked(name: str, price: Price) -> Price:
    try:
        prompt, completion = (float(p) for p in price)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(
            f"set_prices: the price of {name!r} must be (input_usd, output_usd) per million "
            f"tokens, not {price!r}"
        ) from exc
    if prompt < 0 or completion < 0:
        raise ConfigurationError(f"set_prices: the price of {name!r} is negative")
    return prompt, completion


def _candidates(model: str) -> list[str]:
    names = [model]
    if "/" in model:
        names.append(model.split("/", 1)[1])
    return names


def _lookup(model: str, table: Mapping[str, Price]) -> Price | None:
    candidates = _candidates(model)
    for name in candidates:
        if name in table:
            return table[name]
    # A dated snapshot is priced like its alias: the longest key followed by "-".
    best: str | None = None
    for name in candidates:
        for key in table:
            if name.startswith(key + "-") and (best is None or len(key) > len(best)):
                best = key
    return table[best] if best is not None else None


def _litellm_price(model: str) -> Price | None:
    table = _litellm_costs()
    if not table:
        return None
    for name in _candidates(model):
        entry = table.get(name)
        if is_mapping(entry):
            prompt = entry.get("input_cost_per_token")
            completion = entry.get("output_cost_per_token")
            if isinstance(prompt, int | float) and isinstance(completion, int | float):
                return prompt * 1_000_000, completion * 1_000_000
    return None


def _litellm_costs() -> dict[str, Any] | None:
    global _litellm_table, _litellm_loaded
    with _lock:
        if _litellm_loaded:
            return _litellm_table
    table = _litellm_table_now()
    with _lock:
        _litellm_table = table
        _litellm_loaded = True
        return _litellm_table


def _litellm_table_now() -> dict[str, Any] | None:
    """litellm's live ``model_cost`` when the application imported litellm (it may have
    registered prices), else the table litellm ships, read from its package data.

    Not ``import litellm``: that takes seconds and, unless LITELLM_LOCAL_MODEL_COST_MAP is
    set, fetches a price list from GitHub, a network call castlm must not make on its own.
    """
    module = sys.modules.get("litellm")
    if module is not None:
        live = getattr(module, "model_cost", None)
        return live if is_object(live) else None
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / _LITELLM_TABLE
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        return loaded if is_object(loaded) else None
    return None


def forget_litellm_prices() -> None:
    """Look litellm's table up again on the next miss (after installing or patching it)."""
    global _litellm_table, _litellm_loaded
    with _lock:
        _litellm_table, _litellm_loaded = None, False
