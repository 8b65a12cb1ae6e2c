"""The agent's tools: plain typed functions. castlm reads their names, docstrings and type hints.

They are deterministic and offline (a small table of countries, fixed conversion factors), so
the example compiles and verifies the same way on every machine. The program imports them from
this module, and the emitted package vendors it next to ``program.py``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from typing import Literal

Unit = Literal[
    "meters", "kilometers", "centimeters", "miles", "feet", "inches",
    "kilograms", "grams", "pounds", "ounces", "liters", "gallons", "celsius", "fahrenheit",
]  # fmt: skip
Fact = Literal["capital", "population", "currency", "language", "continent"]

# Words people write for operators, and what the calculator reads them as.
_WORDS = (
    (r"\bmultiplied by\b|\btimes\b", "*"),
    (r"\bdivided(?: by)?\b|\bover\b", "/"),
    (r"\bplus\b|\band\b", "+"),
    (r"\bminus\b", "-"),
    (r"\bto the power of\b|\bpower\b", "**"),
    (r"\bsquared\b", "**2"),
    (r"\bmodulo\b|\bmod\b", "%"),
)
_BINARY: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Mod: lambda a, b: a % b,
    ast.Pow: lambda a, b: float(a**b),
}
_UNARY: dict[type[ast.unaryop], Callable[[float], float]] = {
    ast.USub: lambda a: -a,
    ast.UAdd: lambda a: +a,
}


def calculate(expression: str) -> float:
    """Evaluate an arithmetic expression such as "(3 + 4) * 2" or "12 times 7".

    Args:
        expression: the arithmetic expression, with + - * / ** % and parentheses
    """
    text = expression.lower().replace("^", "**").replace("x", "*").replace(",", "")
    for pattern, symbol in _WORDS:
        text = re.sub(pattern, symbol, text)
    text = re.sub(r"[^0-9.+\-*/%() ]", " ", text)
    tree = ast.parse(text.strip() or "0", mode="eval")
    return round(float(_evaluate(tree.body)), 6)


def _evaluate(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > 100:
            raise ValueError("exponent too large")
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate(node.operand))
    raise ValueError(f"not arithmetic: {ast.dump(node)[:60]}")


# Each unit in its base unit of its dimension (meters, kilograms, liters).
_FACTORS: dict[str, tuple[str, float]] = {
    "meters": ("length", 1.0),
    "kilometers": ("length", 1000.0),
    "centimeters": ("length", 0.01),
    "miles": ("length", 1609.344),
    "feet": ("length", 0.3048),
    "inches": ("length", 0.0254),
    "kilograms": ("mass", 1.0),
    "grams": ("mass", 0.001),
    "pounds": ("mass", 0.45359237),
    "ounces": ("mass", 0.028349523125),
    "liters": ("volume", 1.0),
    "gallons": ("volume", 3.785411784),
}


def convert_units(value: float, from_unit: Unit, to_unit: Unit) -> float:
    """Convert a quantity from one unit to another.

    Args:
        value: the quantity
        from_unit: the unit the quantity is in
        to_unit: the unit wanted
    """
    if {from_unit, to_unit} <= {"celsius", "fahrenheit"}:
        if from_unit == to_unit:
            return value
        converted = value * 9 / 5 + 32 if from_unit == "celsius" else (value - 32) * 5 / 9
        return round(converted, 4)
    if from_unit not in _FACTORS or to_unit not in _FACTORS:
        raise ValueError(f"cannot convert {from_unit} to {to_unit}")
    (kind_from, factor_from), (kind_to, factor_to) = _FACTORS[from_unit], _FACTORS[to_unit]
    if kind_from != kind_to:
        raise ValueError(f"cannot convert {kind_from} ({from_unit}) to {kind_to} ({to_unit})")
    return round(value * factor_from / factor_to, 4)


# country: capital, population (millions), currency, language, continent
COUNTRIES: dict[str, tuple[str, str, str, str, str]] = {
    "Argentina": ("Buenos Aires", "46", "peso", "Spanish", "South America"),
    "Australia": ("Canberra", "27", "Australian dollar", "English", "Oceania"),
    "Brazil": ("Brasilia", "216", "real", "Portuguese", "South America"),
    "Canada": ("Ottawa", "40", "Canadian dollar", "English and French", "North America"),
    "Egypt": ("Cairo", "113", "Egyptian pound", "Arabic", "Africa"),
    "Japan": ("Tokyo", "124", "yen", "Japanese", "Asia"),
    "Kenya": ("Nairobi", "55", "Kenyan shilling", "Swahili and English", "Africa"),
    "Mexico": ("Mexico City", "129", "Mexican peso", "Spanish", "North America"),
    "New Zealand": ("Wellington", "5.2", "New Zealand dollar", "English and Maori", "Oceania"),
    "Norway": ("Oslo", "5.5", "Norwegian krone", "Norwegian", "Europe"),
    "Peru": ("Lima", "34", "sol", "Spanish", "South America"),
    "Poland": ("Warsaw", "37", "zloty", "Polish", "Europe"),
    "South Korea": ("Seoul", "52", "won", "Korean", "Asia"),
    "Thailand": ("Bangkok", "72", "baht", "Thai", "Asia"),
    "Vietnam": ("Hanoi", "99", "dong", "Vietnamese", "Asia"),
}
FACTS: tuple[Fact, ...] = ("capital", "population", "currency", "language", "continent")


def lookup_country(country: str, fact: Fact) -> str:
    """Look up a fact about a country: its capital, population (millions), currency, language
    or continent.

    Args:
        country: the country's name in English, e.g. "Kenya"
        fact: which fact to look up
    """
    for name, facts in COUNTRIES.items():
        if name.lower() == country.strip().lower():
            return facts[FACTS.index(fact)]
    raise KeyError(f"no country named {country!r}; known: {', '.join(COUNTRIES)}")
