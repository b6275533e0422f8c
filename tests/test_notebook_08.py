"""Notebook 08 runs a small study headless (quick settings, tiny corpus, three trials: the base
recipe and two proposed by TPE, one of them pruned, two finished, so every plot is drawn) and
draws Optuna's plots.
Pruning, continuing and concurrent studies are tested on the library in test_tuning.py."""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import optuna

from atomicvad_lib import Config, course, tuning

ROOT = Path(__file__).resolve().parents[1]


def test_08_hyperparameter_search_executes(tmp_path, tiny_corpus):
    output = tmp_path / "08.ipynb"
    run_dir = tmp_path / "study"
    run = course.execute(ROOT / "notebooks" / "08_hyperparameter_search.ipynb", output,
                         {"quick": True, "interactive": False, "data_dir": str(tiny_corpus),
                          "run_dir": str(run_dir), "n_trials": 3}, figures=tmp_path / "figures")
    assert run.ok, f"{run.error} (executed copy: {output})"
    nb = nbformat.read(output, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    figures = {p.name for p in (tmp_path / "figures").rglob("*.png")}
    assert {"hyperband_brackets.png", "optimization_history.png", "intermediate_values.png",
            "param_importances.png", "parallel_coordinates.png", "trials.png"} <= figures, figures
    quick_dir = run_dir.with_name("study_quick")  # quick mode keeps its own study
    study = optuna.load_study(study_name="study_quick", storage=tuning.default_storage(quick_dir))
    assert len(study.trials) == 3 and study.trials[0].user_attrs["baseline"]
    states = [t.state for t in study.trials]
    assert states.count(optuna.trial.TrialState.COMPLETE) == 2
    assert states.count(optuna.trial.TrialState.PRUNED) == 1
    assert study.user_attrs["base_config"]["epochs"] == 2
    text = "\n".join(o.get("text", "") for o in outputs)
    assert "study study_quick: 3 trials (2 complete, 1 pruned)" in text
    best = json.loads((quick_dir / tuning.BEST_TRIAL).read_text())
    assert Config.load(quick_dir / tuning.BEST_CONFIG).learning_rate == \
        best["params"]["learning_rate"]
