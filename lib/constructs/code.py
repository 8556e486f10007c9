"""Code: the function zip and the dependency layer, shared by all three functions.

Both zips come from scripts/package_lambdas.py (deterministic), so `source_code_hash` (base64
SHA-256 of the zip) changes exactly when the code or the requirements change.
"""
from __future__ import annotations

from dataclasses import dataclass

from cdktf import AssetType, TerraformAsset
from cdktf_cdktf_provider_aws.lambda_layer_version import LambdaLayerVersion
from constructs import Construct

from lib.config import StackConfig
from scripts.package_lambdas import Artifact

RUNTIME = "python3.11"
ARCHITECTURE = "x86_64"  # the layer is built for manylinux2014_x86_64


@dataclass(frozen=True)
class LambdaArtifacts:
    """The two zips built by scripts/package_lambdas.py."""

    function: Artifact
    layer: Artifact


class CodeBundle(Construct):
    """The function zip and the dependency layer, shared by all three functions."""

    def __init__(
        self, scope: Construct, id_: str, *, config: StackConfig, artifacts: LambdaArtifacts
    ) -> None:
        super().__init__(scope, id_)
        self.function_zip = TerraformAsset(
            self, "function-zip", path=str(artifacts.function.path), type=AssetType.FILE
        )
        self.function_hash = artifacts.function.sha256_b64
        layer_zip = TerraformAsset(
            self, "layer-zip", path=str(artifacts.layer.path), type=AssetType.FILE
        )
        self.layer = LambdaLayerVersion(
            self,
            "layer",
            layer_name=config.name("fraud-detection-deps"),
            description="Python dependencies of the fraud pipeline (lib/lambda/requirements.txt)",
            filename=layer_zip.path,
            source_code_hash=artifacts.layer.sha256_b64,
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
        )
