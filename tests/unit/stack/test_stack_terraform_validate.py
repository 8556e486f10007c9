"""`terraform validate` on the synthesized JSON with the offline aws 5.100.0 plugin.

Skipped when terraform or the plugin mirror is missing (TF_PLUGIN_DIR, default /opt/tf-plugins).
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

PLUGIN_DIR = Path(os.environ.get("TF_PLUGIN_DIR", "/opt/tf-plugins"))


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform not on PATH")
@pytest.mark.skipif(not PLUGIN_DIR.is_dir(), reason=f"no provider mirror at {PLUGIN_DIR}")
def test_terraform_validate(synth_dir: Path, tmp_path: Path) -> None:
    workdir = tmp_path / "stack"
    shutil.copytree(synth_dir, workdir)
    env = {**os.environ, "TF_CLI_CONFIG_FILE": os.devnull, "TF_IN_AUTOMATION": "1"}

    def terraform(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["terraform", *args], cwd=workdir, env=env, capture_output=True, text=True, check=False
        )

    init = terraform("init", "-backend=false", "-input=false", f"-plugin-dir={PLUGIN_DIR}")
    assert init.returncode == 0, init.stderr
    validate = terraform("validate", "-no-color")
    assert validate.returncode == 0, validate.stderr
    assert "Warning" not in validate.stdout, validate.stdout
