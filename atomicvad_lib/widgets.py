"""Interactive pieces of the notebooks that degrade to static output when nobody is watching.

In a live JupyterLab kernel the helpers show ipywidgets sliders and redraw figures as they move.
Under papermill, ``jupyter nbconvert --execute`` or a plain script they draw a static grid of
figures for a few representative settings instead, so an executed notebook holds every figure and
no widget that nobody can move.
"""
from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import ipywidgets as w
import keras
import matplotlib.pyplot as plt
import numpy as np
from IPython import get_ipython
from IPython.display import HTML, Audio, display

from .paths import HEADLESS_ENV
from .plotting import plot_training_curves, save_figure

_override: bool | None = None


def use_interactive(flag: bool | None) -> None:
    """Force widgets on (True) or off (False); None restores the automatic choice."""
    global _override
    _override = None if flag is None else bool(flag)


def under_papermill() -> bool:
    """True when the course runner (``course.execute``) started this kernel: it sets
    ``ATOMICVAD_HEADLESS``. (A notebook run with papermill by hand passes ``-p interactive
    False``, or is recognised as not being in JupyterLab.)"""
    return os.environ.get(HEADLESS_ENV, "") not in ("", "0")


def interactive_available() -> bool:
    """True only in a live JupyterLab kernel, not started by the course runner."""
    if _override is not None:
        return _override
    shell = get_ipython()
    if shell is None or type(shell).__name__ != "ZMQInteractiveShell":
        return False
    if "JPY_SESSION_NAME" not in os.environ:  # set by jupyter-server for kernels it starts
        return False
    return not under_papermill()


def _display(obj) -> None:
    display(obj)


def _make_control(name: str, spec):
    style = {"description_width": "initial"}
    if isinstance(spec, (list, tuple)) and len(spec) == 4 and all(
            isinstance(v, (int, float)) for v in spec):
        low, high, step, value = spec
        cls = w.IntSlider if all(isinstance(v, int) for v in spec) else w.FloatSlider
        return cls(value=value, min=low, max=high, step=step, description=name,
                   continuous_update=False, style=style)
    return w.Dropdown(options=list(spec), description=name, style=style)


def slider_plot(draw: Callable[..., Any], sliders: Mapping[str, Any],
                static: Sequence[Mapping[str, Any]], name: str, *, columns: int = 3,
                panel_size: tuple[float, float] = (4.2, 3.2), after: Callable | None = None,
                interactive: bool | None = None):
    """Draw ``draw(fig, **values)`` under sliders, or a static grid headless.

    ``sliders`` maps a parameter to ``(min, max, step, default)`` (a slider) or to a list of
    choices (a drop-down). Headless, one panel per settings dict in ``static`` is drawn into a
    grid of sub-figures, saved as ``name`` and shown. ``after(**values)``, if given, returns
    something to display under the figure (an audio player, a table). Returns the widget (live)
    or the saved figure's path (headless).
    """
    live = interactive_available() if interactive is None else interactive
    if live:
        controls = {key: _make_control(key, spec) for key, spec in sliders.items()}

        def update(**values):
            fig = plt.figure(figsize=panel_size, layout="constrained")  # as the static grid
            draw(fig, **values)
            plt.show()
            if after is not None:
                extra = after(**values)
                if extra is not None:
                    _display(extra)

        ui = w.interactive(update, **controls)
        _display(ui)
        return ui

    static = list(static) or [{}]
    defaults = {k: (v[3] if isinstance(v, (list, tuple)) and len(v) == 4 else list(v)[0])
                for k, v in sliders.items()}
    columns = max(1, min(columns, len(static)))
    rows = -(-len(static) // columns)
    fig = plt.figure(figsize=(panel_size[0] * columns, panel_size[1] * rows), layout="constrained")
    subfigs = np.atleast_1d(fig.subfigures(rows, columns, squeeze=False)).ravel()
    for sub, values in itertools.zip_longest(subfigs, static):
        if values is None:
            continue
        draw(sub, **{**defaults, **values})
    path = save_figure(fig, name)
    if _in_ipython():
        _display(fig)
    plt.close(fig)
    if after is not None:
        for values in static:
            extra = after(**{**defaults, **values})
            if extra is not None:
                _display(extra)
    return path


def browse(count: int, draw: Callable[..., Any], name: str, *, static_indices: Sequence[int] = (),
           after: Callable | None = None, panel_size: tuple[float, float] = (9.0, 3.2),
           interactive: bool | None = None, columns: int = 1):
    """An example browser: a slider over ``range(count)`` calling ``draw(fig, index=i)``."""
    if count <= 0:
        raise ValueError("nothing to browse: the collection is empty")
    static = [{"index": int(i)} for i in (static_indices or range(min(count, 3)))]
    return slider_plot(draw, {"index": (0, count - 1, 1, 0)}, static, name, columns=columns,
                       panel_size=panel_size, after=after, interactive=interactive)


def _in_ipython() -> bool:
    return get_ipython() is not None


def audio_player(waveform, sample_rate: int = 16000, normalize: bool = True):
    """An ``IPython.display.Audio`` player; headless it is embedded in the notebook as a WAV."""
    waveform = np.asarray(waveform, dtype=np.float32)
    if not normalize:  # Audio refuses peaks above 1 without normalising; clip for fidelity
        waveform = np.clip(waveform, -1.0, 1.0)
    return Audio(waveform, rate=sample_rate, normalize=normalize)


def audio_table(waveforms, labels: Sequence[str], sample_rate: int = 16000):
    """Several audio players side by side, each under its label (one HTML output)."""
    cells = []
    for wave, label in zip(waveforms, labels):
        player = audio_player(wave, sample_rate)._repr_html_()
        cells.append(f"<td style='text-align:center'><b>{label}</b><br>{player}</td>")
    return HTML("<table><tr>" + "".join(cells) + "</tr></table>")


class LivePlot(keras.callbacks.Callback):
    """A Keras callback drawing the training curves: redrawn each epoch in JupyterLab, and the
    final figure saved (as ``name``) and shown once at the end of training in any case."""

    def __init__(self, name: str, metrics: Sequence[str] | None = None, every: int = 1,
                 interactive: bool | None = None, title: str = ""):
        super().__init__()
        self.name, self.metrics, self.every, self.title = name, metrics, max(1, every), title
        self.live = interactive_available() if interactive is None else interactive
        self.history: dict[str, list[float]] = {}
        self.path: Path | None = None
        self._handle = None

    def _figure(self):
        return plot_training_curves(self.history, self.metrics, self.title)

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            if np.isscalar(value) or np.ndim(value) == 0:
                self.history.setdefault(key, []).append(float(value))
        if self.live and (epoch + 1) % self.every == 0 and "loss" in self.history:
            fig = self._figure()
            if self._handle is None:
                self._handle = display(fig, display_id=True)
            else:
                self._handle.update(fig)
            plt.close(fig)

    def on_train_end(self, logs=None):
        if "loss" not in self.history:
            return
        fig = self._figure()
        self.path = save_figure(fig, self.name)
        if self._handle is not None:
            self._handle.update(fig)
        elif _in_ipython():
            _display(fig)
        plt.close(fig)
