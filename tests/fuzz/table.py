"""The closing table of the fuzz suite, from the outcomes its tests log.

    FLUIDFRAMES_FUZZ_LOG=/tmp/fuzz.jsonl python -m pytest tests/fuzz
    python tests/fuzz/table.py /tmp/fuzz.jsonl

(Hypothesis may run an example more than once while shrinking; each run is a case here.)
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict

KINDS = {
    "corpus": "CLI on the corpus of awkward files",
    "allow-partial": "CLI on the damaged ones with --allow-partial",
    "bad-option": "CLI with known-bad option values",
    "cli-values": "CLI with hypothesis option values (runs)",
    "api-values": "API with hypothesis option values (plan)",
}


def main(path: str) -> None:
    rows: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for line in open(path):
        r = json.loads(line)
        row = rows[r["kind"]]
        row["tried"] += 1
        if r["traceback"]:
            row["traceback"] += 1
        elif r["rc"] == 0:
            row["ok" if r["correct"] else "wrong"] += 1
        elif r["rc"] == 2:
            row["refused" if r["lines"] == 1 else "refused, not one line"] += 1
        elif r["rc"] == 1:
            row["exit 1"] += 1
        else:
            row[f"exit {r['rc']}"] += 1
    cols = ["tried", "ok", "refused", "traceback", "exit 1", "wrong", "refused, not one line"]
    print("| cases | tried | exit 0, output correct | exit 2, one line | tracebacks | exit 1 "
          "| exit 0, output wrong | exit 2, more lines |")
    print("|---|" + "---|" * (len(cols)))
    total: dict[str, int] = defaultdict(int)
    for kind, label in KINDS.items():
        if kind in rows:
            print(f"| {label} | " + " | ".join(str(rows[kind][c]) for c in cols) + " |")
            for c in cols:
                total[c] += rows[kind][c]
    print("| **all** | " + " | ".join(f"**{total[c]}**" for c in cols) + " |")


if __name__ == "__main__":
    main(sys.argv[1])
