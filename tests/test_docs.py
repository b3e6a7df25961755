"""The data-contract page and the contract in code describe the same columns."""

from __future__ import annotations

import re
from pathlib import Path

from liuliang.ingest.contract import CONTRACTS

DOC = Path(__file__).resolve().parents[1] / "docs" / "data-contract.md"


def documented_columns() -> dict[str, list[tuple[str, bool]]]:
    tables: dict[str, list[tuple[str, bool]]] = {}
    current = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^## (\w+)", line)
        if heading:
            current = heading.group(1) if heading.group(1) in CONTRACTS else None
            continue
        row = re.match(r"^\| `(\w+)` \| [^|]+ \| (yes|no) \|", line)
        if current and row:
            tables.setdefault(current, []).append((row.group(1), row.group(2) == "yes"))
    return tables


def test_doc_matches_contract() -> None:
    documented = documented_columns()
    in_code = {name: [(c.name, c.required) for c in contract.columns] for name, contract in CONTRACTS.items()}
    assert documented == in_code


def test_ci_runs_the_readme_test_command() -> None:
    """DEVELOPERS.md: `.ci/run` runs exactly the README's test command, so the two cannot drift apart."""
    root = DOC.parents[1]
    readme = (root / "README.md").read_text(encoding="utf-8")
    block = readme.split("# 2. install and run the tests", 1)[1].split("```", 1)[0]
    command = next(line for line in block.splitlines()[1:] if line.strip()).strip()
    ci_lines = [line.strip() for line in (root / ".ci" / "run").read_text(encoding="utf-8").splitlines()]
    assert command in ci_lines
