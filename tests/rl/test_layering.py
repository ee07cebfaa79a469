"""Import layering of the controlled-generation code: no circles, no heavy imports in the CLI."""

import ast
import subprocess
import sys
from pathlib import Path

RL = Path(__file__).resolve().parents[2] / "sumprobe" / "rl"


def _imported(path: Path) -> set[str]:
    """Every sumprobe module a file imports, at its top or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name for name in names if name.startswith("sumprobe")}


def test_the_trainers_share_the_scaffold_without_a_circle():
    scaffold = Path(__file__).resolve().parents[2] / "sumprobe" / "trainers"
    assert "sumprobe.rl.run" not in _imported(RL / "trl_algos.py")
    assert "sumprobe.trainers.hf" in _imported(RL / "trl_algos.py")
    assert "sumprobe.trainers.loop" in _imported(RL / "algorithms.py")
    for module in scaffold.glob("*.py"):  # the scaffold knows no trainer
        assert not {n for n in _imported(module) if n.startswith(("sumprobe.rl",
                                                                   "sumprobe.rm"))}, module


def _loaded_after_import(module: str, heavy: tuple[str, ...]) -> str:
    """Which of `heavy` a fresh interpreter holds after importing `module` (printed list)."""
    code = (f"import sys, {module}; "
            f"print([m for m in {heavy!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    return out.stdout.strip()


def test_importing_the_ctrl_commands_imports_no_heavy_package():
    for module in ("sumprobe.cli_ctrl", "sumprobe.cli_rm", "sumprobe.trainers.run",
                   "sumprobe.trainers.hf", "sumprobe.rl.algorithms"):
        assert _loaded_after_import(module, ("torch", "transformers", "datasets")) == "[]", \
            module


def test_the_health_rules_are_pure():
    assert _loaded_after_import("sumprobe.rl.health", ("torch", "numpy", "rich")) == "[]"
    assert not {n for n in _imported(RL / "health.py")} - {"sumprobe.rl.health"}
