"""scripts/package_lambdas.py: deterministic zips, exclusions, hashes and the layer cache."""
from __future__ import annotations

import base64
import hashlib
import os
import zipfile
from pathlib import Path

import pytest

from scripts import package_lambdas as pl


@pytest.fixture
def source(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    (root / "fraud").mkdir(parents=True)
    (root / "api_handler.py").write_text("def handler(event, context):\n    return {}\n")
    (root / "fraud" / "__init__.py").write_text("")
    (root / "fraud" / "rules.json").write_text('{"rules": []}\n')
    (root / "requirements.txt").write_text("")
    # Things that must never ship:
    (root / "fraud" / "__pycache__").mkdir()
    (root / "fraud" / "__pycache__" / "rules.cpython-311.pyc").write_bytes(b"\0")
    (root / "tests").mkdir()
    (root / "tests" / "test_rules.py").write_text("def test(): pass\n")
    (root / "fraud" / "test_scoring.py").write_text("def test(): pass\n")
    (root / "conftest.py").write_text("")
    (root / ".DS_Store").write_bytes(b"\0")
    return root


def names(zip_path: Path) -> list[str]:
    with zipfile.ZipFile(zip_path) as archive:
        return archive.namelist()


def test_function_zip_contents_are_sorted_and_clean(source: Path, tmp_path: Path) -> None:
    artifact = pl.build_function_zip(source, tmp_path / "out")
    # The builder's own __pycache__ never ships; the zip's bytecode is compiled fresh from the sources.
    assert names(artifact.path) == [
        "__pycache__/api_handler.cpython-311.pyc",
        "api_handler.py",
        "fraud/__init__.py",
        "fraud/__pycache__/__init__.cpython-311.pyc",
        "fraud/rules.json",
        "requirements.txt",
    ]
    with zipfile.ZipFile(artifact.path) as archive:
        for info in archive.infolist():
            assert info.date_time == pl.FIXED_DATE_TIME
            assert info.external_attr == pl.FILE_MODE


def test_same_input_gives_a_byte_identical_zip(source: Path, tmp_path: Path) -> None:
    first = pl.build_function_zip(source, tmp_path / "a")
    # A different modification time must not matter.
    os.utime(source / "api_handler.py", (1_000_000_000, 1_000_000_000))
    second = pl.build_function_zip(source, tmp_path / "b")
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.sha256_b64 == second.sha256_b64


def test_hash_is_base64_sha256_of_the_zip(source: Path, tmp_path: Path) -> None:
    artifact = pl.build_function_zip(source, tmp_path / "out")
    expected = base64.b64encode(hashlib.sha256(artifact.path.read_bytes()).digest()).decode()
    assert artifact.sha256_b64 == expected


def test_a_changed_file_changes_the_hash(source: Path, tmp_path: Path) -> None:
    before = pl.build_function_zip(source, tmp_path / "out").sha256_b64
    (source / "fraud" / "rules.json").write_text('{"rules": [1]}\n')
    assert pl.build_function_zip(source, tmp_path / "out").sha256_b64 != before


def test_a_changed_cache_or_test_file_does_not(source: Path, tmp_path: Path) -> None:
    before = pl.build_function_zip(source, tmp_path / "out").sha256_b64
    (source / "tests" / "test_rules.py").write_text("def test(): assert 0\n")
    (source / "fraud" / "__pycache__" / "rules.cpython-311.pyc").write_bytes(b"\1")
    assert pl.build_function_zip(source, tmp_path / "out").sha256_b64 == before


def fake_installer(calls: list[Path]) -> pl.Installer:
    def install(requirements: Path, target: Path) -> None:
        calls.append(requirements)
        for package in ("powertools", "botocore", "boto3"):
            (target / package).mkdir()
            (target / package / "__init__.py").write_text(f"# {package}\n")
        (target / "botocore-1.0.dist-info").mkdir()
        (target / "botocore-1.0.dist-info" / "METADATA").write_text("Name: botocore\n")
        (target / "bin").mkdir()
        (target / "bin" / "script").write_text("#!/usr/bin/python3\n")
        (target / "powertools" / "__pycache__").mkdir()
        (target / "powertools" / "__pycache__" / "x.pyc").write_bytes(b"\0")

    return install


def test_layer_is_under_python_and_pruned(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("aws-lambda-powertools==3.37.0\n")
    calls: list[Path] = []
    artifact = pl.build_layer_zip(requirements, tmp_path / "out", installer=fake_installer(calls))
    # Runtime-provided SDKs, console scripts and pip's caches are dropped; bytecode is our own.
    assert names(artifact.path) == [
        "python/powertools/__init__.py",
        "python/powertools/__pycache__/__init__.cpython-311.pyc",
    ]


def test_layer_is_cached_by_requirements(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("aws-lambda-powertools==3.37.0\n")
    calls: list[Path] = []
    installer = fake_installer(calls)
    first = pl.build_layer_zip(requirements, tmp_path / "out", installer=installer)
    second = pl.build_layer_zip(requirements, tmp_path / "out", installer=installer)
    assert len(calls) == 1
    assert first == second
    requirements.write_text("aws-lambda-powertools==3.38.0\n")
    pl.build_layer_zip(requirements, tmp_path / "out", installer=installer)
    assert len(calls) == 2


def test_layer_rebuilds_identically(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("aws-lambda-powertools==3.37.0\n")
    a = pl.build_layer_zip(requirements, tmp_path / "a", installer=fake_installer([]))
    b = pl.build_layer_zip(requirements, tmp_path / "b", installer=fake_installer([]))
    assert a.path.read_bytes() == b.path.read_bytes()


@pytest.mark.parametrize("content", [None, "", "# nothing yet\n\n"])
def test_no_requirements_give_an_empty_layer_without_pip(tmp_path: Path, content: str | None) -> None:
    requirements = tmp_path / "requirements.txt"
    if content is not None:
        requirements.write_text(content)
    calls: list[Path] = []
    artifact = pl.build_layer_zip(requirements, tmp_path / "out", installer=fake_installer(calls))
    assert calls == []
    assert names(artifact.path) == []


def test_missing_source_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        pl.build_function_zip(tmp_path / "nope", tmp_path / "out")


def test_package_builds_both(source: Path, tmp_path: Path) -> None:
    (source / "requirements.txt").write_text("aws-lambda-powertools==3.37.0\n")
    function, layer = pl.package(source, tmp_path / "out", installer=fake_installer([]))
    assert function.path.name == "function.zip" and layer.path.name == "layer.zip"
    assert "python/powertools/__init__.py" in names(layer.path)


def test_bytecode_is_unchecked_hash_and_matches_the_source(source: Path, tmp_path: Path) -> None:
    """Lambda's code directory is read-only: only pycs the runtime accepts without a stat save time."""
    import importlib.util

    artifact = pl.build_function_zip(source, tmp_path / "out")
    with zipfile.ZipFile(artifact.path) as archive:
        pyc = archive.read("__pycache__/api_handler.cpython-311.pyc")
        py = archive.read("api_handler.py")
    assert pyc[:4] == importlib.util.MAGIC_NUMBER
    assert int.from_bytes(pyc[4:8], "little") == 0b01  # hash-based, check_source off
    assert pyc[8:16] == importlib.util.source_hash(py)


def test_a_file_that_does_not_compile_ships_as_source_only(source: Path, tmp_path: Path) -> None:
    (source / "legacy.py").write_text("print 'python 2'\n")
    listed = names(pl.build_function_zip(source, tmp_path / "out").path)
    assert "legacy.py" in listed
    assert "__pycache__/legacy.cpython-311.pyc" not in listed
