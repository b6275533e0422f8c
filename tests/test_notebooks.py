"""The course notebooks: committed as built from their sources (jupytext), clean, well-formed,
and executing headless with their quick settings (papermill into tmp_path)."""
from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat
import papermill
import pytest
from jupytext.compare import compare_notebooks

from atomicvad_lib import course

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
SOURCES = ROOT / "tools" / "notebook_sources"

PRESENT = [n for n in course.NOTEBOOKS if (NOTEBOOK_DIR / f"{n}.ipynb").is_file()]


def _read(name: str):
    return nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)


def test_every_source_has_its_notebook():
    sources = sorted(p.stem for p in SOURCES.glob("[0-9][0-9]_*.py"))
    assert sources == PRESENT
    assert set(PRESENT) <= set(course.NOTEBOOKS)


@pytest.mark.parametrize("name", PRESENT)
def test_committed_notebook_equals_its_source(name):
    """Cell for cell (type, source, tags, collapsed input) and the kernel, as jupytext reads both."""
    source = jupytext.read(SOURCES / f"{name}.py")
    committed = jupytext.read(NOTEBOOK_DIR / f"{name}.ipynb")
    try:
        compare_notebooks(committed, source, fmt="py:percent")
    except jupytext.compare.NotebookDifference as err:
        pytest.fail(f"notebooks/{name}.ipynb differs from its source: run `make notebooks` and "
                    f"commit the notebook\n{err}")
    assert committed.metadata.kernelspec == source.metadata.kernelspec


@pytest.mark.parametrize("name", PRESENT)
def test_notebook_is_valid_and_clean(name):
    nb = _read(name)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    # opens with what it teaches, ends with exercises and a collapsed solution cell
    assert nb.cells[0].cell_type == "markdown" and "What you will learn" in nb.cells[0].source
    assert any(c.cell_type == "markdown" and "## Exercises" in c.source for c in nb.cells)
    hidden = [c for c in nb.cells if c.metadata.get("jupyter", {}).get("source_hidden")]
    assert hidden and "Solution" in hidden[-1].source
    # the package is installed: no path tricks; figures go through save_figure
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "sys.path" not in text and ".savefig(" not in text
    parameters = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(parameters) == 1
    assert {"quick", "interactive"} <= set(papermill.inspect_notebook(
        str(NOTEBOOK_DIR / f"{name}.ipynb")))


def test_sources_mark_cells_tags_and_hidden_solutions_as_jupytext_reads_them(tmp_path):
    """The conventions the sources use: a Markdown cell, papermill's parameters tag, a solution
    cell whose input JupyterLab collapses."""
    source = tmp_path / "99_demo.py"
    source.write_text('# %% [markdown]\n# # Title\n#\n# text\n\n# %% tags=["parameters"]\n'
                      'a = 1\n\n# %% jupyter={"source_hidden": true}\nprint(a)\n')
    nb = jupytext.read(source)
    assert [c.cell_type for c in nb.cells] == ["markdown", "code", "code"]
    assert nb.cells[0].source == "# Title\n\ntext"
    assert nb.cells[1].metadata["tags"] == ["parameters"] and nb.cells[1].source == "a = 1"
    assert nb.cells[2].metadata["jupyter"] == {"source_hidden": True}
    assert jupytext.writes(nb, fmt="py:percent").endswith(source.read_text())


def _execute(name: str, tmp_path: Path, **parameters):
    output = tmp_path / f"{name}.ipynb"
    run = course.execute(NOTEBOOK_DIR / f"{name}.ipynb", output,
                         {"quick": True, "interactive": False, **parameters},
                         figures=tmp_path / "figures")
    assert run.ok, f"{name} failed: {run.error} (executed copy: {output})"
    nb = nbformat.read(output, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 2, "figures are in it"
    figures = sorted((tmp_path / "figures").rglob("*.png"))
    assert figures, "figures were saved through save_figure"
    return nb, figures


def test_03_ggcu_derivation_executes(tmp_path):
    nb, figures = _execute("03_ggcu_derivation", tmp_path)
    assert {"activations.png", "ggcu_explorer.png", "xor_decision_regions.png"} <= {
        f.name for f in figures}
    text = "\n".join(o.get("data", {}).get("text/plain", "") for c in nb.cells
                     if c.cell_type == "code" for o in c.outputs)
    assert "ggcu      1.00" in text  # the XOR table: one GGCU neuron, 100 %


def test_04_model_building_executes(tmp_path):
    nb, figures = _execute("04_model_building", tmp_path)
    assert {"parameters_per_layer.png", "receptive_field.png", "macs.png"} <= {
        f.name for f in figures}
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                     for o in c.outputs)
    assert "612,058 MACs per window" in text



def test_02_augmentation_executes(tmp_path, tiny_corpus):
    nb, figures = _execute("02_augmentation", tmp_path, data_dir=str(tiny_corpus))
    assert {"time_shift.png", "white_noise.png", "background_mixing.png", "spec_augment.png",
            "batch_dependent_features.png"} <= {f.name for f in figures}
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                     for o in c.outputs)
    assert "same seed, same draws: True" in text
    assert "epoch 1 == epoch 2, sample for sample: True" in text
    html = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
            if "<audio" in o.get("data", {}).get("text/html", "")]
    assert html, "audio players are embedded headless"


def _add_voices(corpus: Path) -> None:
    """Give the tiny corpus' speech windows a voice (disjoint per split) and backgrounds a source."""
    import json

    for path in corpus.glob("balanced_*_manifest.json"):
        split = path.stem.split("_")[2]
        lines = []
        for i, line in enumerate(path.read_text().splitlines()):
            entry = json.loads(line)
            key = "voice" if entry["label"] == "speech" else "source"
            entry[key] = f"{split}-{key}-{i % 2}"
            lines.append(json.dumps(entry))
        path.write_text("\n".join(lines) + "\n")


def test_01_data_exploration_executes(tmp_path, tiny_corpus):
    _add_voices(tiny_corpus)  # no clips.json: the source tables say so and are skipped
    nb, figures = _execute("01_data_exploration", tmp_path, data_dir=str(tiny_corpus))
    assert {"durations.png", "voices.png", "examples.png", "levels.png", "browser.png"} <= {
        f.name for f in figures}
    html = "\n".join(o.get("data", {}).get("text/html", "") for c in nb.cells
                     if c.cell_type == "code" for o in c.outputs)
    assert "<audio" in html
    assert "training &amp; testing" in html or "training & testing" in html  # the leak check ran


def test_sweep_trains_05_reports_a_bad_seed_and_runs_06(tmp_path, tiny_corpus):
    """The real notebooks 05 and 06 through the sweep: a bad seed fails with its error notebook,
    the good seed trains its paper fold with a config file as atomicvad tune writes it (its
    settings, quick's budget), and 06 analyses the run, beside the ResNet baseline found in the
    same experiments folder (one epoch of it, trained here)."""
    from atomicvad_lib import Config, compare
    from atomicvad_lib.training import train_fold

    tuned = Config.for_recipe("course", optimizer="sgd", momentum=0.85, label_smoothing=0.05,
                              schedule="triangular", epochs=12, batch_size=64)
    config_file = tuned.save(tmp_path / "best_config.yaml")
    train_fold(compare.baseline_config(epochs=1, batch_size=8), None, 0,
               tmp_path / "experiments" / course.BASELINE_RUN, data_dir=tiny_corpus,
               progress=False)
    result = course.sweep("t", [43185, -1], quick=True, data_dir=tiny_corpus, progress=False,
                          runs_root=tmp_path / "runs", experiments_root=tmp_path / "experiments",
                          parameters={"config": str(config_file)})
    good, bad = result.runs
    assert good.ok, f"{good.error} (see {good.output})"
    assert not bad.ok and "seed must be a non-negative integer" in bad.error
    assert bad.output == tmp_path / "runs" / "t" / "05_training_seed-1.ipynb" and bad.output.is_file()
    fold_dir = tmp_path / "experiments" / "t" / "checkpoints" / "fold_0"
    assert {"best.keras", "training_log.csv", "metrics.json"} <= {p.name for p in fold_dir.iterdir()}
    trained = Config.load(fold_dir / "config.yaml")  # the file's settings, quick's budget
    assert trained.to_dict() == {**tuned.to_dict(), "epochs": 2, "batch_size": 32,
                                 "data_dir": trained.data_dir}
    assert result.analysis is not None and result.analysis.ok, result.analysis.error
    for run in (good, result.analysis):
        nb = nbformat.read(run.output, as_version=4)
        outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
        assert not [o for o in outputs if o.output_type == "error"]
        assert sum("image/png" in o.get("data", {}) for o in outputs) >= 2
    figures = {p.name for p in (tmp_path / "runs" / "t" / "figures").rglob("*.png")}
    assert {"curves_seed43185.png", "roc.png", "spi_vs_swi.png", "ggcu_parameters.png",
            "baseline_comparison.png"} <= figures
    analysis = nbformat.read(result.analysis.output, as_version=4)
    tables = "".join(o.get("data", {}).get("text/plain", "") for c in analysis.cells
                     if c.cell_type == "code" for o in c.outputs)
    assert "ResNet baseline, fold 0" in tables and "AtomicVAD, the baseline's seed" in tables
    assert result.failures == [bad]


def test_05_has_one_parameters_cell_listing_the_run_settings():
    nb = _read("05_training")
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    found = papermill.inspect_notebook(str(NOTEBOOK_DIR / "05_training.ipynb"))
    assert list(found) == ["seed", "fold", "epochs", "batch_size", "recipe", "config", "data_dir",
                           "run_dir", "quick", "interactive"]
    assert found["seed"]["inferred_type_name"] == "int" and found["seed"]["default"] == "43185"
