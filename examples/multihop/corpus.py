"""The multi-hop example's corpus: short passages about the fictional Velmar Coast.

Written by data/make_data.py from its tables; edit those and re-run it. The corpus is a
Python module so that it ships inside the emitted package (castlm vendors the program's
local modules) and a change to it makes the next compile rebuild.
"""

PASSAGES: tuple[tuple[str, str], ...] = (
    (
        "Brightwater Mills",
        "Brightwater Mills is a flour mill founded in 1887 by Ana Kessel. "
        "Its headquarters are in Tarvik.",
    ),
    (
        "Halden Glassworks",
        "Halden Glassworks is a glassworks founded in 1902 by Oskar Vrell. "
        "Its headquarters are in Mirrow.",
    ),
    (
        "Coastline Gazette",
        "The Coastline Gazette is a newspaper founded in 1911 by Lidia Moran. "
        "Its headquarters are in Port Sable.",
    ),
    (
        "Ember & Finch",
        "Ember & Finch is a shipbuilding firm founded in 1874 by Tomas Ember. "
        "Its headquarters are in Kell Harbour.",
    ),
    (
        "Velmar Observatory",
        "The Velmar Observatory is an observatory founded in 1923 by Ines Calder. "
        "Its headquarters are in Dunmore.",
    ),
    (
        "Saltmarsh Cannery",
        "Saltmarsh Cannery is a fish cannery founded in 1896 by Piet Aldane. "
        "Its headquarters are in Greyhaven.",
    ),
    (
        "Orrin Conservatory",
        "The Orrin Conservatory is a music school founded in 1908 by Maren Orrin. "
        "Its headquarters are in Lowbridge.",
    ),
    (
        "Tallow Street Bank",
        "Tallow Street Bank is a savings bank founded in 1865 by Edwin Pask. "
        "Its headquarters are in Port Sable.",
    ),
    (
        "Northlight Ferries",
        "Northlight Ferries is a ferry company founded in 1931 by Signe Holt. "
        "Its headquarters are in Kell Harbour.",
    ),
    (
        "Quarry Museum",
        "The Quarry Museum is a museum of stonework founded in 1952 by Ruben Stahl. "
        "Its headquarters are in Ashcombe.",
    ),
    (
        "Cinder Works",
        "Cinder Works is an iron foundry founded in 1879 by Greta Voss. "
        "Its headquarters are in Ashcombe.",
    ),
    (
        "Blue Heron Press",
        "Blue Heron Press is a book publisher founded in 1919 by Caspar Lind. "
        "Its headquarters are in Mirrow.",
    ),
    (
        "Fenwick Botanical Garden",
        "The Fenwick Botanical Garden is a botanical garden founded in 1899 by Alma Fenwick. "
        "Its headquarters are in Dunmore.",
    ),
    (
        "Wolden Clocks",
        "Wolden Clocks is a clockmaker founded in 1884 by Henrik Wolden. "
        "Its headquarters are in Lowbridge.",
    ),
    (
        "Ana Kessel",
        "Ana Kessel was a miller, born in Brennick in 1862.",
    ),
    (
        "Oskar Vrell",
        "Oskar Vrell was a chemist, born in Tarvik in 1871.",
    ),
    (
        "Lidia Moran",
        "Lidia Moran was a journalist, born in Greyhaven in 1880.",
    ),
    (
        "Tomas Ember",
        "Tomas Ember was a shipwright, born in Stonereach in 1840.",
    ),
    (
        "Ines Calder",
        "Ines Calder was a astronomer, born in Lowbridge in 1889.",
    ),
    (
        "Piet Aldane",
        "Piet Aldane was a fisherman, born in Kell Harbour in 1858.",
    ),
    (
        "Maren Orrin",
        "Maren Orrin was a cellist, born in Ashcombe in 1870.",
    ),
    (
        "Edwin Pask",
        "Edwin Pask was a merchant, born in Mirrow in 1831.",
    ),
    (
        "Signe Holt",
        "Signe Holt was a sea captain, born in Port Sable in 1897.",
    ),
    (
        "Ruben Stahl",
        "Ruben Stahl was a stonemason, born in Dunmore in 1910.",
    ),
    (
        "Greta Voss",
        "Greta Voss was a engineer, born in Brennick in 1845.",
    ),
    (
        "Caspar Lind",
        "Caspar Lind was a printer, born in Stonereach in 1885.",
    ),
    (
        "Alma Fenwick",
        "Alma Fenwick was a botanist, born in Greyhaven in 1866.",
    ),
    (
        "Henrik Wolden",
        "Henrik Wolden was a watchmaker, born in Mirrow in 1852.",
    ),
    (
        "Tarvik",
        "Tarvik is a town in the Northern Reach, known for its wheat fields. "
        "The river Ormen runs through it.",
    ),
    (
        "Mirrow",
        "Mirrow is a town in the Glass Valley, known for its bell towers. "
        "The river Lanne runs through it.",
    ),
    (
        "Port Sable",
        "Port Sable is a town in the Sable Coast, known for its lighthouse. "
        "The river Sable runs through it.",
    ),
    (
        "Kell Harbour",
        "Kell Harbour is a town in the Sable Coast, known for its dry docks. "
        "The river Kell runs through it.",
    ),
    (
        "Dunmore",
        "Dunmore is a town in the High Moors, known for its clear night skies. "
        "The river Dun runs through it.",
    ),
    (
        "Greyhaven",
        "Greyhaven is a town in the Southern Marshes, known for its salt pans. "
        "The river Grey runs through it.",
    ),
    (
        "Lowbridge",
        "Lowbridge is a town in the Glass Valley, known for its seven bridges. "
        "The river Lanne runs through it.",
    ),
    (
        "Ashcombe",
        "Ashcombe is a town in the High Moors, known for its granite quarries. "
        "The river Ash runs through it.",
    ),
    (
        "Brennick",
        "Brennick is a town in the Northern Reach, known for its windmills. "
        "The river Brenn runs through it.",
    ),
    (
        "Stonereach",
        "Stonereach is a town in the Southern Marshes, known for its old sea wall. "
        "The river Stoner runs through it.",
    ),
)
