"""Every benchmark script says what it was measured on (figures differ several-fold by CPU)."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = sorted(p for p in BENCHMARKS.glob("*.py") if p.name != "machine.py")


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_each_benchmark_prints_the_machine_description(script):
    calls = {node.func.id for node in ast.walk(ast.parse(script.read_text()))
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    assert "describe" in calls, f"{script.name} does not print machine.describe()"


def test_the_description_names_cpu_threads_and_kernels():
    text = subprocess.run([sys.executable, "-c", "import machine; print(machine.describe())"],
                          cwd=BENCHMARKS, capture_output=True, text=True, check=True).stdout
    lines = {line.split()[0] for line in text.splitlines() if line.strip()}
    assert {"CPU", "TensorFlow", "oneDNN", "threads"} <= lines, text
