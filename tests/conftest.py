"""Shared test setup: the repo root and the Lambda deployment root on sys.path.

`lambda` is a Python keyword, so `lib/lambda` is imported as a top-level path,
exactly as the Lambda runtime sees it.
"""
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
LAMBDA_ROOT = REPO_ROOT / "lib" / "lambda"

for path in (str(LAMBDA_ROOT), str(REPO_ROOT)):
    if path not in sys.path:
        sys.path.insert(0, path)
