"""The real Terraform CLI and the mirrored hashicorp/aws plugin, run offline.

Nothing here downloads anything: Terraform reads the provider from a filesystem
mirror through a CLI config we write ourselves, and checkpoint calls are off.
When either piece is missing we say exactly what to install and stop
(`ToolingMissing`), rather than pretend to deploy.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

TERRAFORM_VERSION = "1.11.4"
AWS_PROVIDER_VERSION = "5.100.0"
_PLUGIN_GLOB = f"terraform-provider-aws_v{AWS_PROVIDER_VERSION}*"
_PLUGIN_SUBDIR = Path("registry.terraform.io/hashicorp/aws") / AWS_PROVIDER_VERSION
# Where mirrors usually live; TAP_TF_PLUGIN_DIR overrides all of them.
_MIRROR_CANDIDATES = (
    "/opt/tf-plugins",
    "~/.terraform.d/plugins",
    "~/.local/share/terraform/plugins",
    "/usr/local/share/terraform/plugins",
    "/usr/share/terraform/plugins",
)
_SEARCH_ROOTS = ("/opt", "/usr/local/share", "/usr/share", "~")


class ToolingMissing(RuntimeError):
    """Terraform or the provider plugin is not installed; the message says what to install."""


class TerraformFailed(RuntimeError):
    """A terraform command exited non-zero (its output was already streamed)."""


def find_terraform() -> str:
    exe = shutil.which("terraform")
    if exe is None:
        raise ToolingMissing(
            f"terraform is not on PATH. Install Terraform {TERRAFORM_VERSION}: "
            f"https://releases.hashicorp.com/terraform/{TERRAFORM_VERSION}/"
            f"terraform_{TERRAFORM_VERSION}_linux_amd64.zip -> unzip into /usr/local/bin"
        )
    return exe


def _is_mirror(root: Path) -> bool:
    platform_dir = root / _PLUGIN_SUBDIR
    return platform_dir.is_dir() and any(platform_dir.glob(f"*/{_PLUGIN_GLOB}"))


def find_plugin_mirror(environ: Mapping[str, str] = os.environ) -> Path:
    """The filesystem-mirror root holding hashicorp/aws 5.100.0.

    The root is the directory that contains `registry.terraform.io/`; we find it
    by locating the plugin binary, so any conventional mirror layout works.
    """
    configured = environ.get("TAP_TF_PLUGIN_DIR", "").strip()
    if configured:
        root = Path(configured).expanduser()
        if _is_mirror(root):
            return root
        raise ToolingMissing(
            f"TAP_TF_PLUGIN_DIR={configured} holds no {_PLUGIN_SUBDIR}/<os_arch>/{_PLUGIN_GLOB}. "
            "Point it at a filesystem mirror (terraform providers mirror <dir>) that has it."
        )
    for candidate in _MIRROR_CANDIDATES:
        root = Path(candidate).expanduser()
        if _is_mirror(root):
            return root
    for search_root in _SEARCH_ROOTS:
        base = Path(search_root).expanduser()
        if not base.is_dir():
            continue
        for hit in base.glob(f"**/{_PLUGIN_SUBDIR}/*/{_PLUGIN_GLOB}"):
            # <root>/registry.terraform.io/hashicorp/aws/<ver>/<os_arch>/<binary>
            return hit.parents[5]
    raise ToolingMissing(
        f"hashicorp/aws {AWS_PROVIDER_VERSION} plugin not found (searched TAP_TF_PLUGIN_DIR, "
        f"{', '.join(_MIRROR_CANDIDATES)}). On a machine with internet run: "
        f"`terraform providers mirror -platform=linux_amd64 /opt/tf-plugins` in a directory whose "
        f"configuration requires hashicorp/aws = {AWS_PROVIDER_VERSION}, copy /opt/tf-plugins here, "
        "or set TAP_TF_PLUGIN_DIR to the mirror root."
    )


def write_cli_config(path: Path, mirror: Path) -> Path:
    """A CLI config that installs providers from the mirror only (never the registry)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path = {json.dumps(str(mirror))}\n  }}\n'
        "}\n"
    )
    return path


@dataclass
class Terraform:
    """One Terraform working directory, driven with streamed, timed commands."""

    workdir: Path
    cli_config: Path
    executable: str
    log_prefix: str = "  terraform"

    @classmethod
    def prepare(cls, workdir: Path, environ: Mapping[str, str] = os.environ) -> "Terraform":
        exe = find_terraform()
        mirror = find_plugin_mirror(environ)
        config = write_cli_config(workdir.parent / "terraformrc", mirror)
        return cls(workdir=workdir, cli_config=config, executable=exe)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            TF_CLI_CONFIG_FILE=str(self.cli_config),
            TF_IN_AUTOMATION="1",
            TF_INPUT="0",
            CHECKPOINT_DISABLE="1",  # no phone-home to checkpoint-api.hashicorp.com
        )
        # Real credentials must never reach the local deploy; the override sets test keys.
        for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            env.pop(var, None)
        return env

    def run(self, args: Sequence[str], *, quiet: bool = False, capture: bool = False) -> str:
        """Run `terraform <args>`, streaming condensed progress; returns stdout if captured."""
        cmd = [self.executable, *args]
        started = time.monotonic()
        proc = subprocess.Popen(
            cmd,
            cwd=self.workdir,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if not capture else subprocess.PIPE,
            text=True,
        )
        out_lines: list[str] = []
        progress = _Progress(self.log_prefix)
        assert proc.stdout is not None
        for line in proc.stdout:
            out_lines.append(line)
            shown = None if quiet or capture else progress.line(line)
            if shown:
                print(shown, flush=True)
        stderr = proc.stderr.read() if capture and proc.stderr else ""
        code = proc.wait()
        if code != 0:
            if quiet or capture:
                sys.stderr.write("".join(out_lines) + stderr)
            raise TerraformFailed(f"terraform {args[0]} failed (exit {code}) in {self.workdir}")
        if not quiet and not capture:
            print(f"{self.log_prefix}: {args[0]} done in {time.monotonic() - started:.1f}s", flush=True)
        return "".join(out_lines)

    def output_json(self) -> dict[str, Any]:
        return json.loads(self.run(["output", "-json"], capture=True) or "{}")


_HASH_SUFFIX = re.compile(r"_[0-9A-F]{8}(?=[:.\s]|$)")


class _Progress:
    """Condenses terraform's output to one counted line per resource, plus waits and errors."""

    _DONE = re.compile(r"^(?P<addr>[\w.-]+): (?P<what>Creation|Destruction|Modifications) complete after (?P<t>\S+)")
    _PLAN = re.compile(r"Plan: (?P<add>\d+) to add, (?P<change>\d+) to change, (?P<destroy>\d+) to destroy")

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.total = 0
        self.done = 0

    def line(self, raw: str) -> Optional[str]:
        text = raw.rstrip()
        plan = self._PLAN.search(text)
        if plan:
            self.total = sum(int(plan.group(k)) for k in ("add", "change", "destroy"))
            return f"{self.prefix}: {text.strip()}"
        done = self._DONE.match(text)
        if done:
            self.done += 1
            verb = {"Creation": "created", "Destruction": "destroyed", "Modifications": "updated"}[done["what"]]
            # Drop cdktf's construct hash so the line names the resource as the stack does.
            addr = _HASH_SUFFIX.sub("", done["addr"])
            return f"{self.prefix}: [{self.done:>3}/{self.total or '?'}] {verb} {addr} ({done['t']})"
        keys = ("Still creating", "Still destroying", "Error:", "│", "Apply complete", "Destroy complete",
                "Terraform has been successfully initialized", "Installed hashicorp")
        if any(k in text for k in keys):
            return f"{self.prefix}: {_HASH_SUFFIX.sub('', text.strip())}"
        return None
