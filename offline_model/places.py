"""City detection for the weather rule of the offline model (a deterministic
stand-in for a real LLM): a built-in list of well-known cities plus a fallback
for capitalized names after "in".
"""

from __future__ import annotations

import re

# Names that are also common English words ("Nice", "Reading") are left out on purpose;
# the "in X, Y and Z" fallback still finds them when capitalized.
KNOWN_CITIES = [
    "Amsterdam",
    "Athens",
    "Atlanta",
    "Auckland",
    "Austin",
    "Bangkok",
    "Barcelona",
    "Beijing",
    "Belgrade",
    "Berlin",
    "Bern",
    "Bogota",
    "Boston",
    "Brussels",
    "Bucharest",
    "Budapest",
    "Buenos Aires",
    "Cairo",
    "Cape Town",
    "Casablanca",
    "Chicago",
    "Copenhagen",
    "Dallas",
    "Delhi",
    "Denver",
    "Dubai",
    "Dublin",
    "Edinburgh",
    "Frankfurt",
    "Geneva",
    "Hamburg",
    "Helsinki",
    "Ho Chi Minh City",
    "Hong Kong",
    "Houston",
    "Istanbul",
    "Jakarta",
    "Johannesburg",
    "Kyiv",
    "Kuala Lumpur",
    "Lagos",
    "Las Vegas",
    "Lima",
    "Lisbon",
    "London",
    "Los Angeles",
    "Lyon",
    "Madrid",
    "Manila",
    "Marseille",
    "Melbourne",
    "Mexico City",
    "Miami",
    "Milan",
    "Montreal",
    "Moscow",
    "Mumbai",
    "Munich",
    "Nairobi",
    "New Delhi",
    "New Orleans",
    "New York",
    "Osaka",
    "Oslo",
    "Paris",
    "Philadelphia",
    "Prague",
    "Reykjavik",
    "Rio de Janeiro",
    "Riyadh",
    "Rome",
    "San Diego",
    "San Francisco",
    "Santiago",
    "Sao Paulo",
    "São Paulo",
    "Seattle",
    "Seoul",
    "Shanghai",
    "Singapore",
    "Stockholm",
    "Sydney",
    "Taipei",
    "Tel Aviv",
    "Tokyo",
    "Toronto",
    "Vancouver",
    "Vienna",
    "Warsaw",
    "Washington",
    "Zurich",
]
# Longest first, so "New York" wins over "York" and "New Delhi" over "Delhi".
_KNOWN_RE = re.compile(
    r"\b(" + "|".join(re.escape(c) for c in sorted(KNOWN_CITIES, key=len, reverse=True)) + r")\b",
    re.IGNORECASE,
)
_CANONICAL = {c.lower(): c for c in KNOWN_CITIES}
# "in Paris, Lyon and Nice?" -> the list after "in", up to the end of the clause.
_IN_LIST_RE = re.compile(r"\bin\s+([^.?!;:]+)")
_NAME_RE = re.compile(r"[A-Z][\w'-]*(?:\s+(?:(?:de|da|do|del|la|le|los|las|am|upon)\s+)?[A-Z][\w'-]*)*")


def find_cities(text: str) -> list[str]:
    """City names in ``text``, in order of appearance, without duplicates."""
    found: list[tuple[int, int, str]] = []
    for m in _KNOWN_RE.finditer(text):
        found.append((m.start(), m.end(), _CANONICAL[m.group(1).lower()]))

    for m in _IN_LIST_RE.finditer(text):
        offset = m.start(1)
        for piece in re.finditer(r"[^,&]+", m.group(1)):
            for part in re.split(r"\band\b|\bor\b", piece.group(0)):
                start = offset + piece.start() + piece.group(0).find(part)
                name = _NAME_RE.match(part.strip())
                if not name:
                    continue
                begin = start + (len(part) - len(part.lstrip()))
                end = begin + len(name.group(0))
                if not any(s < end and begin < e for s, e, _ in found):
                    found.append((begin, end, name.group(0)))

    seen: set[str] = set()
    cities = []
    for _, _, city in sorted(found):
        if city.lower() not in seen:
            seen.add(city.lower())
            cities.append(city)
    return cities
