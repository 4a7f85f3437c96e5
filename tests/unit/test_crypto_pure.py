"""hoard.crypto stands alone: the object engine, the S3 layer and the admin API will import it, so it
imports nothing of theirs (nor of the index or drives). pyproject.toml's contracts do not name it
yet; this keeps the rule until they do."""

from __future__ import annotations

import ast
from pathlib import Path

import hoard.crypto

PACKAGE = Path(hoard.crypto.__file__).parent


def test_crypto_imports_only_itself_of_hoard():
    strays = []
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""] if node.level == 0 else ["hoard.crypto"]
            strays += [f"{path.name}: {name}" for name in names if name.split(".")[0] == "hoard" and not name.startswith("hoard.crypto")]
    assert strays == []
