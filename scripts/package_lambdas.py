"""Build the Lambda artifacts deterministically: one function zip and one dependency layer zip.

    python3 scripts/package_lambdas.py [--src lib/lambda] [--out build/lambda]

* `function.zip`: `lib/lambda/` as it is (handlers at the zip root), minus caches and tests.
* `layer.zip`: `lib/lambda/requirements.txt` installed under `python/` for python3.11 on
  manylinux2014 x86_64 (what the Lambda python3.11 runtime, Amazon Linux 2, can load).

Both zips are byte-identical for identical inputs (sorted entries, fixed timestamps and modes,
fixed compression), so the base64 SHA-256 that the stack sets as `source_code_hash` changes exactly
when the code or the requirements change. The layer is cached by a hash of requirements.txt and the
pip target options, so repeated synths do not reinstall it.

Both zips carry `__pycache__/*.cpython-311.pyc` next to every module, compiled with unchecked-hash
invalidation: Lambda's code directory is read-only, so without them every cold start recompiles
every module it imports (measured: ~2x the import time). Unchecked-hash pycs embed no timestamp,
so they keep the zips deterministic. They are only produced when the builder itself is CPython 3.11
(the runtime's bytecode format); another builder ships sources only and the runtime compiles.
"""
from __future__ import annotations

import argparse
import base64
import fcntl
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from importlib import _bootstrap_external  # noqa: PLC2701 (the hash-pyc writer)
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

REPO_ROOT = Path(__file__).resolve().parent.parent
LAMBDA_ROOT = REPO_ROOT / "lib" / "lambda"
BUILD_DIR = REPO_ROOT / "build" / "lambda"

# 1980-01-01 is the earliest timestamp a zip entry can carry.
FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644 << 16  # regular file, rw-r--r--: Lambda only needs to read
COMPRESSION = zipfile.ZIP_DEFLATED
COMPRESS_LEVEL = 9

EXCLUDED_DIR_NAMES = frozenset(
    {"__pycache__", "tests", "test", ".pytest_cache", ".mypy_cache", ".hypothesis", ".ruff_cache"}
)
EXCLUDED_SUFFIXES = (".pyc", ".pyo")

PIP_TARGET_OPTIONS: tuple[str, ...] = (
    "--platform", "manylinux2014_x86_64",
    "--python-version", "3.11",
    "--implementation", "cp",
    "--only-binary=:all:",
)
# The python3.11 runtime ships these; a layer copy would shadow the runtime's and add ~80 MB
# to every cold start. aws-xray-sdk pulls botocore in transitively, hence the pruning.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer")
# Console scripts carry the build machine's interpreter path and are never imported.
LAYER_PRUNED_DIRS = ("bin",)

Installer = Callable[[Path, Path], None]

LAMBDA_PYTHON = (3, 11)
BYTECODE_TAG = "cpython-311"


def compiles_bytecode() -> bool:
    return sys.implementation.name == "cpython" and sys.version_info[:2] == LAMBDA_PYTHON


def hash_pyc(source: bytes, module_path: str) -> Optional[bytes]:
    """Unchecked-hash pyc for `source`, named by its path inside the zip; None if it does not compile."""
    try:
        code = compile(source, module_path, "exec", dont_inherit=True, optimize=0)
    except (SyntaxError, ValueError):
        return None  # e.g. py2-only files some wheels ship; the runtime never imports them
    source_hash = importlib.util.source_hash(source)
    return bytes(_bootstrap_external._code_to_hash_pyc(code, source_hash, checked=False))


def bytecode_name(relative: Path) -> Path:
    return relative.parent / "__pycache__" / f"{relative.stem}.{BYTECODE_TAG}.pyc"


@dataclass(frozen=True)
class Artifact:
    path: Path
    sha256_b64: str  # what Terraform calls source_code_hash


def sha256_b64(path: Path) -> str:
    digest = hashlib.sha256(path.read_bytes()).digest()
    return base64.b64encode(digest).decode("ascii")


ExcludeFn = Callable[[Path], bool]


def is_cache(relative: Path) -> bool:
    return relative.name.endswith(EXCLUDED_SUFFIXES) or "__pycache__" in relative.parts


def is_cache_or_test(relative: Path) -> bool:
    """Our own code: drop caches, tests and dotfiles (third-party trees keep their `test` dirs)."""
    if is_cache(relative):
        return True
    if any(part in EXCLUDED_DIR_NAMES or part.startswith(".") for part in relative.parts):
        return True
    name = relative.name
    return name == "conftest.py" or (name.startswith("test_") and name.endswith(".py"))


def collect_files(root: Path, exclude: ExcludeFn = is_cache_or_test) -> list[Path]:
    """Files under `root` that belong in a zip, as sorted relative paths."""
    found = [
        path.relative_to(root)
        for path in root.rglob("*")
        if path.is_file() and not exclude(path.relative_to(root))
    ]
    return sorted(found, key=lambda p: p.as_posix())


def write_deterministic_zip(root: Path, dest: Path, exclude: ExcludeFn = is_cache_or_test) -> Path:
    """Zip `root` into `dest` atomically; entries sorted, timestamps and modes fixed."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    os.close(fd)
    try:
        entries: dict[str, bytes] = {}
        with_bytecode = compiles_bytecode()
        for relative in collect_files(root, exclude):
            data = (root / relative).read_bytes()
            entries[relative.as_posix()] = data
            if with_bytecode and relative.suffix == ".py":
                pyc = hash_pyc(data, relative.as_posix())
                if pyc is not None:
                    entries[bytecode_name(relative).as_posix()] = pyc
        with zipfile.ZipFile(tmp_name, "w") as archive:
            for name in sorted(entries):
                info = zipfile.ZipInfo(name, date_time=FIXED_DATE_TIME)
                info.external_attr = FILE_MODE
                info.compress_type = COMPRESSION
                info.create_system = 3  # unix, whatever machine builds it
                archive.writestr(info, entries[name], compress_type=COMPRESSION, compresslevel=COMPRESS_LEVEL)
        os.chmod(tmp_name, 0o644)  # mkstemp creates 0600; other tools (emulators) read the zip
        os.replace(tmp_name, dest)  # readers never see a half-written zip
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    return dest


def build_function_zip(src: Path = LAMBDA_ROOT, out_dir: Path = BUILD_DIR) -> Artifact:
    if not src.is_dir():
        raise FileNotFoundError(f"Lambda source directory not found: {src}")
    path = write_deterministic_zip(src, out_dir / "function.zip")
    return Artifact(path, sha256_b64(path))


def pip_install(requirements: Path, target: Path) -> None:
    """Install `requirements` for the Lambda platform into `target` (binary wheels only)."""
    env = dict(os.environ)
    # Local mirrors in some machines' pip.conf only add warnings; PyPI is the source of truth.
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--no-compile",
        "--requirement", str(requirements), "--target", str(target), *PIP_TARGET_OPTIONS,
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(
            f"pip could not build the Lambda layer from {requirements}:\n{result.stderr.strip()}"
        )


def _prune_layer(site: Path) -> None:
    for name in LAYER_PRUNED_DIRS:
        shutil.rmtree(site / name, ignore_errors=True)
    for entry in site.iterdir():
        # Matches both the package directory and its `<name>-<version>.dist-info`.
        top = entry.name.split("-", 1)[0].lower()
        if top in RUNTIME_PROVIDED:
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


def layer_cache_key(requirements: Path) -> str:
    content = requirements.read_bytes() if requirements.exists() else b""
    material = b"\0".join(
        [
            content,
            " ".join(PIP_TARGET_OPTIONS).encode(),
            " ".join(RUNTIME_PROVIDED).encode(),
            BYTECODE_TAG.encode() if compiles_bytecode() else b"sources-only",
        ]
    )
    return hashlib.sha256(material).hexdigest()


def has_requirements(requirements: Path) -> bool:
    """True when the file lists at least one requirement (not just comments and blanks)."""
    if not requirements.exists():
        return False
    lines = (line.split("#", 1)[0].strip() for line in requirements.read_text().splitlines())
    return any(lines)


def build_layer_zip(
    requirements: Path = LAMBDA_ROOT / "requirements.txt",
    out_dir: Path = BUILD_DIR,
    installer: Optional[Installer] = None,
) -> Artifact:
    dest = out_dir / "layer.zip"
    stamp = out_dir / "layer.zip.key"
    key = layer_cache_key(requirements)
    if dest.exists() and stamp.exists() and stamp.read_text().strip() == key:
        return Artifact(dest, sha256_b64(dest))
    with tempfile.TemporaryDirectory(prefix="lambda-layer-") as tmp:
        site = Path(tmp) / "python"
        site.mkdir()
        if has_requirements(requirements):
            (installer or pip_install)(requirements, site)
        _prune_layer(site)
        write_deterministic_zip(Path(tmp), dest, exclude=is_cache)
    stamp.write_text(key + "\n")
    return Artifact(dest, sha256_b64(dest))


# What the python3.11 runtime provides besides the standard library: boto3 and its dependencies.
RUNTIME_MODULES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")


def lambda_layout(function: Artifact, layer: Artifact, root: Path) -> dict[str, Path]:
    """Extract the zips under `root` as Lambda does (`task` = /var/task, `layer` = /opt/python) and add
    `runtime`, a stand-in for the runtime's site-packages that links to this machine's boto3 & co only.
    An interpreter with exactly these three on its path sees what the deployed function sees."""
    import boto3  # only here: packaging itself never needs it

    task, opt, runtime = root / "task", root / "opt", root / "runtime"
    with zipfile.ZipFile(function.path) as archive:
        archive.extractall(task)
    with zipfile.ZipFile(layer.path) as archive:
        archive.extractall(opt)  # entries are already under python/
    runtime.mkdir()
    source = Path(boto3.__file__).resolve().parent.parent
    for name in RUNTIME_MODULES:
        for candidate in (source / name, source / f"{name}.py"):
            if candidate.exists():
                (runtime / candidate.name).symlink_to(candidate)
                break
        else:
            raise FileNotFoundError(f"{name} not found next to boto3 in {source}")
    return {"task": task, "layer": opt / "python", "runtime": runtime,
            "function_zip": function.path, "layer_zip": layer.path}  # fmt: skip


@contextmanager
def _build_lock(out_dir: Path) -> Iterator[None]:
    """Serialise concurrent builds (parallel test sessions share build/)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def package(
    src: Path = LAMBDA_ROOT, out_dir: Path = BUILD_DIR, installer: Optional[Installer] = None
) -> tuple[Artifact, Artifact]:
    """Build (function, layer); what the stack calls at synth time."""
    with _build_lock(out_dir):
        function = build_function_zip(src, out_dir)
        layer = build_layer_zip(src / "requirements.txt", out_dir, installer)
    return function, layer


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=LAMBDA_ROOT, help="Lambda deployment root")
    parser.add_argument("--out", type=Path, default=BUILD_DIR, help="output directory")
    args = parser.parse_args(argv)
    for artifact in package(args.src, args.out):
        size_kib = artifact.path.stat().st_size / 1024
        print(f"{artifact.path}  {size_kib:,.0f} KiB  sha256={artifact.sha256_b64}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
