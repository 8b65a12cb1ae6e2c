"""Writes train.jsonl and dev.jsonl: questions for the agent, answers computed by the tools.

Run from examples/agent: ``python data/make_data.py``. The questions are fixed; one seeded
shuffle splits them, so re-running it changes nothing.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools import calculate, convert_units, lookup_country

ARITHMETIC = [
    "What is 17 * 23?", "Compute (45 + 15) / 4.", "What is 12 times 7?",
    "What is 144 divided by 12?", "What is 2 ** 10?", "Add 345 and 678.",
    "What is 1000 minus 387?", "What is (8 + 2) * (5 - 3)?", "Compute 3.5 * 4.",
    "What is 81 / 9 + 6?", "What is 15 squared?", "What is 7 * 8 * 9?",
    "What is 250 / 8?", "Calculate 19 + 26 + 33.", "What is 99 * 99?",
    "What is 365 * 24?", "What is (100 - 36) / 8?", "What is 13 times 17?",
    "Compute 4096 / 64.", "What is 2.5 * 2.5?", "What is 72 divided by 9?",
    "What is 11 * 11 - 21?", "Calculate 1234 + 4321.", "What is 60 * 60 * 24?",
    "What is 7 plus 35?", "What is (3 + 4) * (5 + 6)?",
]  # fmt: skip

CONVERSIONS = [
    ("Convert 5 miles to kilometers.", 5, "miles", "kilometers"),
    ("Convert 10 kilograms to pounds.", 10, "kilograms", "pounds"),
    ("How many feet are in 3 meters?", 3, "meters", "feet"),
    ("Convert 100 celsius to fahrenheit.", 100, "celsius", "fahrenheit"),
    ("What is 12 inches in centimeters?", 12, "inches", "centimeters"),
    ("Convert 2 gallons to liters.", 2, "gallons", "liters"),
    ("How many pounds is 5 kilograms?", 5, "kilograms", "pounds"),
    ("What is 212 fahrenheit in celsius?", 212, "fahrenheit", "celsius"),
    ("Convert 42 kilometers to miles.", 42, "kilometers", "miles"),
    ("How many grams are in 3 pounds?", 3, "pounds", "grams"),
    ("Convert 6 feet to meters.", 6, "feet", "meters"),
    ("What is 500 grams in ounces?", 500, "grams", "ounces"),
    ("How many liters are in 10 gallons?", 10, "gallons", "liters"),
    ("Convert 37 celsius to fahrenheit.", 37, "celsius", "fahrenheit"),
    ("What is 1 mile in feet?", 1, "miles", "feet"),
    ("How many centimeters are in 2 feet?", 2, "feet", "centimeters"),
    ("Convert 8 ounces to grams.", 8, "ounces", "grams"),
    ("What is 50 fahrenheit in celsius?", 50, "fahrenheit", "celsius"),
    ("Convert 3 kilometers to meters.", 3, "kilometers", "meters"),
    ("How many kilometers is 26.2 miles?", 26.2, "miles", "kilometers"),
    ("Convert 150 pounds to kilograms.", 150, "pounds", "kilograms"),
    ("What is 4 liters in gallons?", 4, "liters", "gallons"),
    ("How many inches are in 5 feet?", 5, "feet", "inches"),
    ("Convert 1500 meters to miles.", 1500, "meters", "miles"),
    ("What is 0 celsius in fahrenheit?", 0, "celsius", "fahrenheit"),
]  # fmt: skip

LOOKUPS = [
    ("What is the capital of Kenya?", "Kenya", "capital"),
    ("Which currency is used in Japan?", "Japan", "currency"),
    ("What is the population of Canada in millions?", "Canada", "population"),
    ("On which continent is Peru?", "Peru", "continent"),
    ("What language is spoken in Brazil?", "Brazil", "language"),
    ("What is the capital of Australia?", "Australia", "capital"),
    ("What currency does Poland use?", "Poland", "currency"),
    ("How many people live in Egypt, in millions?", "Egypt", "population"),
    ("What is the capital city of Thailand?", "Thailand", "capital"),
    ("Which continent is Norway in?", "Norway", "continent"),
    ("What language do people speak in Vietnam?", "Vietnam", "language"),
    ("What is the capital of New Zealand?", "New Zealand", "capital"),
    ("What is the currency of South Korea?", "South Korea", "currency"),
    ("What is the population of Mexico in millions?", "Mexico", "population"),
    ("Where is the capital of Argentina?", "Argentina", "capital"),
    ("What is the official language of Poland?", "Poland", "language"),
    ("What currency is used in Thailand?", "Thailand", "currency"),
    ("How many million people live in Japan?", "Japan", "population"),
    ("What is the capital of Peru?", "Peru", "capital"),
    ("On which continent is Egypt?", "Egypt", "continent"),
    ("Which language is spoken in Mexico?", "Mexico", "language"),
    ("What is the capital of Norway?", "Norway", "capital"),
    ("What is the currency of Kenya?", "Kenya", "currency"),
    ("What is the population of Australia in millions?", "Australia", "population"),
    ("Which continent is Vietnam on?", "Vietnam", "continent"),
    ("What is the capital of South Korea?", "South Korea", "capital"),
    ("Which currency does Brazil use?", "Brazil", "currency"),
    ("What is the capital of Canada?", "Canada", "capital"),
    ("What is the population of Peru in millions?", "Peru", "population"),
]  # fmt: skip


def _number(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e6 else str(round(value))


def rows() -> list[dict[str, str]]:
    found = [{"question": q, "answer": _number(calculate(q))} for q in ARITHMETIC]
    found += [
        {"question": q, "answer": _number(convert_units(v, a, b))}  # type: ignore[arg-type]
        for q, v, a, b in CONVERSIONS
    ]
    found += [
        {"question": q, "answer": lookup_country(c, f)}  # type: ignore[arg-type]
        for q, c, f in LOOKUPS
    ]
    return found


def main() -> None:
    data = rows()
    random.Random(7).shuffle(data)
    here = Path(__file__).parent
    for name, part in (("train", data[:50]), ("dev", data[50:])):
        lines = [json.dumps(row, ensure_ascii=False) for row in part]
        (here / f"{name}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
