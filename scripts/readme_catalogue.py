"""Write the output of `compliance rules coverage --catalogue rules` into the README, between its markers.

Run it after changing a rule's `differences` (or adding a rule); a test fails until the README's copy is current.
"""

from __future__ import annotations

import sys
from pathlib import Path

from compliance import api

ROOT = Path(__file__).resolve().parent.parent
START = "<!-- compliance rules coverage --catalogue rules -->\n"
END = "<!-- end of the catalogue table -->\n"


def main() -> int:
    readme = ROOT / "README.md"
    text = readme.read_text()
    if START not in text or END not in text:
        print(f"{readme}: the catalogue table markers are missing", file=sys.stderr)
        return 1
    table = api.catalogue_table(api.load_library([ROOT / "rules"]))
    before, rest = text.split(START, 1)
    after = rest.split(END, 1)[1]
    readme.write_text(before + START + table + END + after)
    return 0


if __name__ == "__main__":
    sys.exit(main())
