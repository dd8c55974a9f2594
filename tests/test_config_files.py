"""compose.yaml and the GitHub workflows are valid for the tools that will read them.

Neither Docker nor GitHub runs here; check-jsonschema validates both against the schemas
it vendors (the Compose specification's and SchemaStore's), with no network.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def check_jsonschema(schema: str, *files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, *map(str, files)],
        capture_output=True, text=True, check=False, timeout=120,
    )


def test_compose_file_follows_the_compose_specification() -> None:
    result = check_jsonschema("vendor.compose-spec", ROOT / "compose.yaml", ROOT / ".devcontainer" / "compose.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_migrate_service_waits_for_a_healthy_database() -> None:
    compose = (ROOT / "compose.yaml").read_text()
    assert "condition: service_healthy" in compose
    assert "migrate:" in compose


def test_workflows_follow_the_github_schema() -> None:
    assert WORKFLOWS
    result = check_jsonschema("vendor.github-workflows", *WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr
