"""Writes the multi-hop example's corpus (``corpus.py``) and questions (``data/*.jsonl``).

The world is fictional (the Velmar Coast), so no model can answer from memory: every answer
needs the passages. Facts live in the three tables below; each passage is written from one
row, and each question needs two passages: one to find the bridge (an organization's founder
or home town, a person's birthplace), one to read the answer. Run from examples/multihop:
``python data/make_data.py``; a fixed shuffle makes re-running it change nothing.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

# organization: (what it is, founder, year founded, headquarters town)
ORGANIZATIONS = {
    "Brightwater Mills": ("a flour mill", "Ana Kessel", 1887, "Tarvik"),
    "Halden Glassworks": ("a glassworks", "Oskar Vrell", 1902, "Mirrow"),
    "the Coastline Gazette": ("a newspaper", "Lidia Moran", 1911, "Port Sable"),
    "Ember & Finch": ("a shipbuilding firm", "Tomas Ember", 1874, "Kell Harbour"),
    "the Velmar Observatory": ("an observatory", "Ines Calder", 1923, "Dunmore"),
    "Saltmarsh Cannery": ("a fish cannery", "Piet Aldane", 1896, "Greyhaven"),
    "the Orrin Conservatory": ("a music school", "Maren Orrin", 1908, "Lowbridge"),
    "Tallow Street Bank": ("a savings bank", "Edwin Pask", 1865, "Port Sable"),
    "Northlight Ferries": ("a ferry company", "Signe Holt", 1931, "Kell Harbour"),
    "the Quarry Museum": ("a museum of stonework", "Ruben Stahl", 1952, "Ashcombe"),
    "Cinder Works": ("an iron foundry", "Greta Voss", 1879, "Ashcombe"),
    "Blue Heron Press": ("a book publisher", "Caspar Lind", 1919, "Mirrow"),
    "the Fenwick Botanical Garden": ("a botanical garden", "Alma Fenwick", 1899, "Dunmore"),
    "Wolden Clocks": ("a clockmaker", "Henrik Wolden", 1884, "Lowbridge"),
}

# person: (birthplace, birth year, profession)
PEOPLE = {
    "Ana Kessel": ("Brennick", 1862, "miller"),
    "Oskar Vrell": ("Tarvik", 1871, "chemist"),
    "Lidia Moran": ("Greyhaven", 1880, "journalist"),
    "Tomas Ember": ("Stonereach", 1840, "shipwright"),
    "Ines Calder": ("Lowbridge", 1889, "astronomer"),
    "Piet Aldane": ("Kell Harbour", 1858, "fisherman"),
    "Maren Orrin": ("Ashcombe", 1870, "cellist"),
    "Edwin Pask": ("Mirrow", 1831, "merchant"),
    "Signe Holt": ("Port Sable", 1897, "sea captain"),
    "Ruben Stahl": ("Dunmore", 1910, "stonemason"),
    "Greta Voss": ("Brennick", 1845, "engineer"),
    "Caspar Lind": ("Stonereach", 1885, "printer"),
    "Alma Fenwick": ("Greyhaven", 1866, "botanist"),
    "Henrik Wolden": ("Mirrow", 1852, "watchmaker"),
}

# town: (region, river, what it is known for)
TOWNS = {
    "Tarvik": ("the Northern Reach", "Ormen", "its wheat fields"),
    "Mirrow": ("the Glass Valley", "Lanne", "its bell towers"),
    "Port Sable": ("the Sable Coast", "Sable", "its lighthouse"),
    "Kell Harbour": ("the Sable Coast", "Kell", "its dry docks"),
    "Dunmore": ("the High Moors", "Dun", "its clear night skies"),
    "Greyhaven": ("the Southern Marshes", "Grey", "its salt pans"),
    "Lowbridge": ("the Glass Valley", "Lanne", "its seven bridges"),
    "Ashcombe": ("the High Moors", "Ash", "its granite quarries"),
    "Brennick": ("the Northern Reach", "Brenn", "its windmills"),
    "Stonereach": ("the Southern Marshes", "Stoner", "its old sea wall"),
}


def passages() -> list[tuple[str, str]]:
    found = []
    for name, (kind, founder, year, town) in ORGANIZATIONS.items():
        title = name.removeprefix("the ").strip()
        found.append((
            title[0].upper() + title[1:],
            f"{name[0].upper() + name[1:]} is {kind} founded in {year} by {founder}. "
            f"Its headquarters are in {town}.",
        ))  # fmt: skip
    for name, (town, year, job) in PEOPLE.items():
        found.append((name, f"{name} was a {job}, born in {town} in {year}."))
    for name, (region, river, known) in TOWNS.items():
        found.append((
            name,
            f"{name} is a town in {region}, known for {known}. The river {river} runs "
            f"through it.",
        ))  # fmt: skip
    return found


def questions() -> list[dict[str, str]]:
    rows = []
    for org, (_, founder, _, town) in ORGANIZATIONS.items():
        born, year, job = PEOPLE[founder]
        region, river, _ = TOWNS[town]
        rows += [
            {"question": f"Where was the founder of {org} born?", "answer": born},
            {"question": f"In what year was the founder of {org} born?", "answer": str(year)},
            {"question": f"What was the profession of the founder of {org}?", "answer": job},
            {"question": f"In which region are the headquarters of {org}?", "answer": region},
            {"question": f"Which river runs through the town where {org} has its headquarters?",
             "answer": river},
        ]  # fmt: skip
    for person, (town, _, _) in PEOPLE.items():
        rows.append(
            {"question": f"Which river runs through the birthplace of {person}?",
             "answer": TOWNS[town][1]}
        )  # fmt: skip
    return rows


def _entry(title: str, text: str) -> list[str]:
    """One (title, text) pair as source lines, the text split into one string per sentence."""
    sentences = [s if s.endswith(".") else f"{s}." for s in text.split(". ")]
    last = len(sentences) - 1
    parts = [json.dumps(s + ("" if i == last else " ")) for i, s in enumerate(sentences)]
    body = [f"        {part}" for part in parts]
    return ["    (", f"        {json.dumps(title)},", *body[:-1], f"{body[-1]},", "    ),"]


def write_corpus(path: Path) -> None:
    lines = [
        '"""The multi-hop example\'s corpus: short passages about the fictional Velmar Coast.',
        "",
        "Written by data/make_data.py from its tables; edit those and re-run it. The corpus is a",
        "Python module so that it ships inside the emitted package (castlm vendors the program's",
        "local modules) and a change to it makes the next compile rebuild.",
        '"""',
        "",
        "PASSAGES: tuple[tuple[str, str], ...] = (",
        *(line for title, text in passages() for line in _entry(title, text)),
        ")",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")


def main() -> None:
    here = Path(__file__).parent
    write_corpus(here.parent / "corpus.py")
    data = questions()
    random.Random(11).shuffle(data)
    for name, part in (("train", data[:54]), ("dev", data[54:])):
        lines = [json.dumps(row, ensure_ascii=False) for row in part]
        (here / f"{name}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
