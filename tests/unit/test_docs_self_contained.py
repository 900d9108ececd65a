"""README and docs/ speak for the project alone: no pointer to a file outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# A design file that does not ship with the repository, however it is named.
_OUTSIDE_DESIGN = re.compile(r"\.\./shared|\bshared/docs\b|DESIGN\.md|\bDESIGN\s+\d")
# A relative path that climbs: it must still land inside the repository.
_CLIMBING = re.compile(r"(?:\.\./)+[\w./-]*")
# Absolute paths of a developer's machine.
_MACHINE = re.compile(r"(?<![\w.])/(?:work|home|Users|root|tmp)/")


def outside_pointers(doc: Path, root: Path = ROOT) -> list[str]:
    """Every pointer in `doc` to something outside `root`, with its line number."""
    found: list[str] = []
    for number, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
        found.extend(f"{number}: {m.group()}" for m in _OUTSIDE_DESIGN.finditer(line))
        found.extend(f"{number}: {m.group()}" for m in _MACHINE.finditer(line))
        for match in _CLIMBING.finditer(line):
            target = (doc.parent / match.group()).resolve()
            if not target.is_relative_to(root):
                found.append(f"{number}: {match.group()}")
    return found


def test_readme_and_docs_are_found() -> None:
    """The check reads the README and every document of docs/, contracts included."""
    names = {doc.relative_to(ROOT).as_posix() for doc in DOCS}
    assert {"README.md", "docs/contracts.md", "docs/architecture.md"} <= names


@pytest.mark.parametrize("doc", DOCS, ids=[d.relative_to(ROOT).as_posix() for d in DOCS])
def test_no_pointer_leaves_the_repository(doc: Path) -> None:
    """The document names no design file beside the project and no path outside the
    repository; contracts are in docs/contracts.md."""
    assert outside_pointers(doc) == []


@pytest.mark.parametrize("text", [
    "see `DESIGN.md` beside the project", "kept as `../shared/DESIGN.md`",
    "as DESIGN 5.3 says", "in `../../elsewhere/notes.md`", "under /work/main/docs",
    "in `../shared/docs/pinpoint-api.md`",
])
def test_each_kind_of_outside_pointer_is_caught(tmp_path: Path, text: str) -> None:
    """A design-file mention, a path climbing out, or a machine path is reported."""
    doc = tmp_path / "docs" / "x.md"
    doc.parent.mkdir()
    doc.write_text(f"intro\n{text}\n", encoding="utf-8")
    assert outside_pointers(doc, root=tmp_path)


def test_a_path_climbing_within_the_repository_is_fine(tmp_path: Path) -> None:
    """`../schemas/` from docs/ stays inside the repository and is not reported."""
    doc = tmp_path / "docs" / "x.md"
    doc.parent.mkdir()
    doc.write_text("see ../schemas/asyncapi.json and a design shared by the team\n",
                   encoding="utf-8")
    assert outside_pointers(doc, root=tmp_path) == []
