"""The AsyncAPI document passes the official AsyncAPI parser (`@asyncapi/parser`, from npm).

`tools/asyncapi-check/` holds the parser at a locked version (installed by `npm ci`, which
`.ci/run` and `make test` run) and a script that prints its diagnostics as JSON. The document
is the one the models generate now, written beside its JSON Schemas so that every `$ref` is
resolved from files, as an integrator's tools would read the checked-in `schemas/`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from worker.core.schemagen import write_schemas

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
TOOL = ROOT / "tools" / "asyncapi-check"
INSTALL = f"npm ci --ignore-scripts --prefix {TOOL.relative_to(ROOT)}"


def parse(document: Path) -> dict[str, Any]:
    """The parser's verdict on `document`: its JSON report (fails the test if it cannot run)."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: the AsyncAPI parser needs Node.js 18 or later")
    if not (TOOL / "node_modules" / "@asyncapi" / "parser").is_dir():
        pytest.fail(f"the AsyncAPI parser is not installed: run `{INSTALL}`")
    done = subprocess.run(
        [node, str(TOOL / "check.mjs"), str(document)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode in (0, 1), f"the parser did not run: {done.stderr}"
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def test_generated_asyncapi_document_passes_the_official_parser(tmp_path: Path) -> None:
    """The generated AsyncAPI document and its schemas parse with no error and no warning."""
    write_schemas(tmp_path)
    report = parse(tmp_path / "asyncapi.json")
    problems = [d for d in report["diagnostics"] if d["severity"] in ("error", "warning")]
    assert problems == [], json.dumps(problems, indent=2)
    assert report["valid"] is True


def test_the_parser_refuses_an_openapi_discriminator(tmp_path: Path) -> None:
    """The check can fail: an OpenAPI-style discriminator in a payload is an error."""
    write_schemas(tmp_path)
    path = tmp_path / "campaign-event.schema.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    schema["discriminator"] = {"propertyName": "type"}
    path.write_text(json.dumps(schema), encoding="utf-8")
    report = parse(tmp_path / "asyncapi.json")
    assert report["valid"] is False
    assert any(d["severity"] == "error" and "discriminator" in d["message"]
               for d in report["diagnostics"])
