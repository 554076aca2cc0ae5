"""The web layer's boundaries (docs/architecture.md, "Layers"): views call services and selectors, never AWS or
Celery; selectors only read, so they import neither services nor AWS."""

import ast
from pathlib import Path

import pytest

MATCHES = Path(__file__).resolve().parents[2] / "matches"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def _files(package: str) -> list[Path]:
    return sorted((MATCHES / package).glob("*.py"))


@pytest.mark.parametrize("path", _files("views"), ids=lambda p: p.name)
def test_views_never_import_aws_or_tasks(path):
    bad = {m for m in imported_modules(path) if m in ("matches.aws", "matches.tasks", "boto3", "botocore")}
    assert not bad, f"{path.name} imports {sorted(bad)}: call a service instead"


@pytest.mark.parametrize("path", _files("selectors"), ids=lambda p: p.name)
def test_selectors_import_no_service_and_no_aws(path):
    bad = {m for m in imported_modules(path) if m.startswith(("matches.services", "matches.aws", "matches.tasks"))}
    assert not bad, f"{path.name} imports {sorted(bad)}: selectors only read"


def test_a_view_that_imports_aws_is_caught(tmp_path):
    leaky = tmp_path / "leaky.py"
    leaky.write_text("from matches import aws\nfrom matches.aws import get_domain\n")
    assert "matches.aws" in imported_modules(leaky)
