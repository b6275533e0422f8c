"""save_figure, the headless fallbacks of the widget helpers, audio players and the live plot."""
from __future__ import annotations

import keras
import matplotlib
import numpy as np
import pytest

from atomicvad_lib import plotting, widgets
from atomicvad_lib.paths import FIGURES_ENV, HEADLESS_ENV, figures_dir, repo_path, repo_root

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


@pytest.fixture
def figures(tmp_path, monkeypatch):
    monkeypatch.setenv(FIGURES_ENV, str(tmp_path / "figs"))
    return tmp_path / "figs"


def test_save_figure_writes_png_under_env_folder(figures):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    path = plotting.save_figure(fig, "03/some figure: v1")
    assert path == figures / "03" / "some_figure_v1.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plt.close(fig)


def test_save_figure_cannot_escape_folder(figures):
    fig = plt.figure()
    path = plotting.save_figure(fig, "../../escape")
    assert figures in path.parents
    plt.close(fig)


def test_default_figures_folder_is_repo_figures(monkeypatch):
    monkeypatch.delenv(FIGURES_ENV, raising=False)
    assert figures_dir() == repo_root() / "figures"


def test_repo_path_resolves_from_notebooks_folder(monkeypatch):
    root = repo_root()
    monkeypatch.chdir(root / "atomicvad_lib")
    assert repo_root() == root
    assert repo_path("pyproject.toml") == root / "pyproject.toml"


def test_not_interactive_outside_jupyterlab(monkeypatch):
    widgets.use_interactive(None)
    assert widgets.interactive_available() is False
    monkeypatch.setenv(HEADLESS_ENV, "1")
    assert widgets.under_papermill() is True
    widgets.use_interactive(True)
    try:
        assert widgets.interactive_available() is True
    finally:
        widgets.use_interactive(None)


def test_slider_plot_falls_back_to_a_static_grid(figures):
    calls = []

    def draw(fig, a, b):
        calls.append((a, b))
        fig.subplots().plot(np.arange(5) * a, label=b)

    extras = []
    path = widgets.slider_plot(draw, {"a": (0.0, 2.0, 0.1, 1.0), "b": ["x", "y"]},
                               [{"a": 0.5}, {"a": 1.5, "b": "y"}, {}], "grid",
                               after=lambda a, b: extras.append(a))
    assert path == figures / "grid.png" and path.is_file()
    assert calls == [(0.5, "x"), (1.5, "y"), (1.0, "x")]
    assert extras == [0.5, 1.5, 1.0]
    assert plt.get_fignums() == []


def test_browse_needs_items(figures):
    with pytest.raises(ValueError, match="empty"):
        widgets.browse(0, lambda fig, index: None, "empty")


def test_audio_player_embeds_the_waveform():
    wave = 0.5 * np.sin(np.linspace(0, 100, 1600)).astype(np.float32)
    player = widgets.audio_player(wave, 16000)
    assert player.data[:4] == b"RIFF"
    html = widgets.audio_table([wave, wave], ["one", "two"]).data
    assert html.count("<audio") == 2 and "two" in html


def test_live_plot_saves_final_curves(figures):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    callback = widgets.LivePlot("training/curves", interactive=False)
    model.fit(x, x[:, :1], validation_data=(x, x[:, :1]), epochs=3, verbose=0,
              callbacks=[callback])
    assert callback.path == figures / "training" / "curves.png" and callback.path.is_file()
    assert len(callback.history["loss"]) == 3 and len(callback.history["val_loss"]) == 3


def test_roc_and_confusion_panels():
    from sklearn.metrics import roc_auc_score

    y = np.array([0, 0, 1, 1, 1, 0])
    s = np.array([0.1, 0.6, 0.7, 0.9, 0.4, 0.2])
    fig, (a, b) = plt.subplots(1, 2)
    assert plotting.plot_roc(a, y, s, "m") == pytest.approx(roc_auc_score(y, s))
    plotting.plot_confusion(b, [[3, 1], [0, 2]])
    assert "1\n25.0%" in [t.get_text() for t in b.texts]
    plt.close(fig)


def test_slider_plot_live_builds_sliders_and_draws_defaults(figures):
    import ipywidgets

    calls = []
    ui = widgets.slider_plot(lambda fig, a, n, c: calls.append((a, n, c)),
                             {"a": (0.0, 2.0, 0.1, 1.5), "n": (0, 10, 1, 3), "c": ["x", "y"]},
                             [{"a": 0.5}], "live", interactive=True)
    assert isinstance(ui, ipywidgets.interactive)
    kinds = {w.description: type(w).__name__ for w in ui.kwargs_widgets}
    assert kinds == {"a": "FloatSlider", "n": "IntSlider", "c": "Dropdown"}
    assert calls[0] == (1.5, 3, "x")  # drawn once with the defaults
    ui.kwargs_widgets[0].value = 0.7
    ui.update()
    assert calls[-1][0] == pytest.approx(0.7)
    assert not (figures / "live.png").exists()  # live figures are not saved
    plt.close("all")


def test_live_figure_keeps_the_suptitle_clear_of_the_panel_titles(figures):
    # Seen in JupyterLab: without a layout engine the GGCU explorer's settings line ran into
    # the "GGCU(x)" title once the values had a few digits.
    drawn = []

    def draw(fig, **params):
        plotting.plot_ggcu(fig, **params)
        drawn.append(fig)

    sliders = {"w1": (-2.0, 2.0, 0.05, 1.15), "b1": (-3.0, 3.0, 0.1, 1.8),
               "w2": (0.0, 4.0, 0.05, 3.2), "b2": (-3.2, 3.2, 0.1, 1.9)}
    widgets.slider_plot(draw, sliders, [{}], "live_ggcu", panel_size=(8.0, 3.0),
                        interactive=True)
    fig = drawn[-1]
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    top = fig._suptitle.get_window_extent(renderer)
    titles = [ax.title.get_window_extent(renderer) for ax in fig.axes if ax.get_title()]
    assert len(titles) == 2
    assert not any(top.overlaps(box) for box in titles)
    assert all(top.y0 >= box.y1 - 1 for box in titles)  # the settings line sits above them
    plt.close("all")
