"""domain/, kalshi/ and core/ must stay pure: no asyncio, aiohttp, websockets, time or random."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "kalshi_mm"
PURE_PACKAGES = ("domain", "kalshi", "core")
FORBIDDEN = {"asyncio", "aiohttp", "websockets", "time", "random"}


def forbidden_imports(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [n for n in names if n.split(".")[0] in FORBIDDEN]
    return found


def pure_files() -> list[Path]:
    return sorted(p for pkg in PURE_PACKAGES for p in (SRC / pkg).rglob("*.py"))


def test_the_scan_sees_the_packages() -> None:
    files = pure_files()
    assert any(p.parent.name == "core" and p.name == "engine.py" for p in files)
    assert any(p.parent.name == "domain" for p in files)


@pytest.mark.parametrize("path", pure_files(), ids=lambda p: str(p.relative_to(SRC)))
def test_pure_package_imports_nothing_impure(path: Path) -> None:
    bad = forbidden_imports(path.read_text(encoding="utf-8"))
    assert not bad, f"{path.relative_to(SRC)} imports {bad}"


def test_scanner_catches_every_form() -> None:
    assert forbidden_imports("import time") == ["time"]
    assert forbidden_imports("import os, random as r") == ["random"]
    assert forbidden_imports("from asyncio import sleep") == ["asyncio"]
    assert forbidden_imports("from aiohttp.web import Application") == ["aiohttp.web"]
    assert forbidden_imports("def f():\n    import websockets\n") == ["websockets"]
    assert forbidden_imports("import timeit\nfrom . import time\nimport datetime") == []
