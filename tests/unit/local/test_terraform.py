"""Locating terraform and the provider mirror; saying what to install when they are missing."""
from __future__ import annotations

from pathlib import Path

import pytest

from lib.local import terraform as tf
from lib.local.terraform import ToolingMissing, find_plugin_mirror, find_terraform, write_cli_config


def _mirror(root: Path) -> Path:
    binary = root / "registry.terraform.io/hashicorp/aws/5.100.0/linux_amd64/terraform-provider-aws_v5.100.0_x5"
    binary.parent.mkdir(parents=True)
    binary.write_bytes(b"")
    return root


def test_configured_mirror_is_used(tmp_path: Path) -> None:
    root = _mirror(tmp_path / "mirror")
    assert find_plugin_mirror({"TAP_TF_PLUGIN_DIR": str(root)}) == root


def test_configured_mirror_without_the_plugin_says_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(ToolingMissing, match="terraform-provider-aws_v5.100.0"):
        find_plugin_mirror({"TAP_TF_PLUGIN_DIR": str(tmp_path)})


def test_mirror_is_found_by_searching(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _mirror(tmp_path / "deep" / "plugins")
    monkeypatch.setattr(tf, "_MIRROR_CANDIDATES", ())
    monkeypatch.setattr(tf, "_SEARCH_ROOTS", (str(tmp_path),))
    assert find_plugin_mirror({}) == root


def test_no_mirror_anywhere_names_the_install_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tf, "_MIRROR_CANDIDATES", ())
    monkeypatch.setattr(tf, "_SEARCH_ROOTS", (str(tmp_path),))
    with pytest.raises(ToolingMissing, match="terraform providers mirror"):
        find_plugin_mirror({})


def test_missing_terraform_names_the_release_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ToolingMissing, match=r"Terraform 1\.11\.4"):
        find_terraform()


def test_cli_config_installs_only_from_the_mirror(tmp_path: Path) -> None:
    path = write_cli_config(tmp_path / "rc", Path("/opt/tf-plugins"))
    text = path.read_text()
    assert 'filesystem_mirror {\n    path = "/opt/tf-plugins"' in text
    assert "direct" not in text  # never the registry


def test_terraform_env_drops_real_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "prod")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "real")
    runner = tf.Terraform(workdir=tmp_path, cli_config=tmp_path / "rc", executable="terraform")
    env = runner.env()
    assert "AWS_PROFILE" not in env and "AWS_SECRET_ACCESS_KEY" not in env
    assert env["TF_CLI_CONFIG_FILE"] == str(tmp_path / "rc")
    assert env["CHECKPOINT_DISABLE"] == "1"


def test_progress_counts_resources_and_keeps_errors() -> None:
    progress = tf._Progress("tf")
    assert progress.line("Plan: 2 to add, 0 to change, 1 to destroy.") is not None
    assert progress.line("aws_sqs_queue.messaging_alerts_035FB1BE: Creation complete after 25s [id=x]") == (
        "tf: [  1/3] created aws_sqs_queue.messaging_alerts (25s)"
    )
    assert progress.line("aws_vpc.network_vpc_4E8F0223: Destruction complete after 0s") == (
        "tf: [  2/3] destroyed aws_vpc.network_vpc (0s)"
    )
    assert progress.line("  + resource \"aws_sqs_queue\" \"q\" {") is None  # the plan dump is dropped
    assert progress.line("│ Error: creating SQS Queue: boom") == "tf: │ Error: creating SQS Queue: boom"


def test_progress_ignores_plan_lines_that_merely_mention_errors() -> None:
    progress = tf._Progress("tf")
    assert progress.line('      + metric_name = "5XXError"') is None
    assert progress.line('      - "Errors",') is None
