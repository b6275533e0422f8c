"""Notebook 08 runs a small study headless (quick settings, tiny corpus, three trials: the base
recipe and two proposed by TPE) and draws Optuna's plots: the importance and parallel-coordinate
plots when at least two trials finished, else the notebook says why they are missing (which
trials Hyperband prunes on the tiny corpus depends on the last digits of the losses).
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
            "trials.png"} <= figures, figures
    quick_dir = run_dir.with_name("study_quick")  # quick mode keeps its own study
    study = optuna.load_study(study_name="study_quick", storage=tuning.default_storage(quick_dir))
    assert len(study.trials) == 3 and study.trials[0].user_attrs["baseline"]
    assert study.user_attrs["base_config"]["epochs"] == 2
    states = [t.state for t in study.trials]
    complete = states.count(optuna.trial.TrialState.COMPLETE)
    pruned = states.count(optuna.trial.TrialState.PRUNED)
    assert complete >= 1 and complete + pruned == 3  # trial 0, the base recipe, always finishes
    text = "\n".join(o.get("text", "") for o in outputs)
    assert f"study study_quick: 3 trials ({complete} complete, {pruned} pruned)" in text
    if complete >= 2:
        assert {"param_importances.png", "parallel_coordinates.png"} <= figures, figures
    else:
        assert "importances need at least two" in text
        assert not {"param_importances.png", "parallel_coordinates.png"} & figures
    best = json.loads((quick_dir / tuning.BEST_TRIAL).read_text())
    assert Config.load(quick_dir / tuning.BEST_CONFIG).learning_rate == \
        best["params"]["learning_rate"]
