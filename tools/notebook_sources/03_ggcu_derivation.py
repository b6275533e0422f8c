# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 · GGCU: from ReLU to a learnable oscillating activation
#
# **What you will learn.** AtomicVAD has only 298 parameters; eight of them are the scalars of its
# two *Generalised Growing Cosine Unit* (GGCU) layers. In this notebook you
#
# 1. follow the path ReLU → GCU → GGCU and see what each step adds;
# 2. derive GGCU's derivatives with respect to its input and its four parameters with `sympy`, and
#    check them numerically against finite differences and TensorFlow's automatic differentiation;
# 3. explore the function with sliders and name its properties: zeros, oscillation,
#    non-monotonicity, growth;
# 4. watch a *single* GGCU neuron learn XOR, which no single ReLU neuron can;
# 5. see why the four parameters carry an L1/L2 penalty.
#
# The maths lives in `atomicvad_lib.ggcu_math` (tested in `tests/test_ggcu_math.py`); this notebook
# calls it and draws.

# %% tags=["parameters"]
quick = False        # fewer XOR training steps (for tests)
interactive = None   # None: sliders in JupyterLab, static figures elsewhere; True/False to force
seed = 0             # seed of the XOR experiment
xor_steps = 400      # full-batch Adam steps of the XOR experiment

# %%
import numpy as np
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Math, display
from tqdm.auto import tqdm

import atomicvad_lib as av
from atomicvad_lib import ggcu_math as gm
from atomicvad_lib import model_stats, plotting, widgets

widgets.use_interactive(interactive)
if quick:
    xor_steps = min(xor_steps, 300)

# %% [markdown]
# ## 1. ReLU, GCU, GGCU
#
# **ReLU**, $\max(0, x)$, is cheap and trains well, but it is *monotone* and piecewise linear: a
# single ReLU neuron can only switch on along one straight line of its input space.
#
# **GCU** (Growing Cosine Unit, Noel et al. 2021), $x\cos x$, multiplies the input by an
# oscillation. It is not monotone, it has infinitely many zeros, and its amplitude grows with
# $|x|$, so large inputs still carry gradient. One GCU neuron can therefore cut its input space into
# several parallel bands.
#
# **GGCU** lets the network choose the shape:
#
# $$\mathrm{GGCU}(x) = (w_1 x + b_1)\,\cos(w_2 x + b_2)$$
#
# $w_1, b_1$ set the linear envelope (slope and where it crosses zero), $w_2$ the oscillation
# frequency and $b_2$ its phase. In AtomicVAD the four scalars are shared by every unit of a layer,
# so a GGCU layer adds just **four** parameters. With $w_1 = w_2 = 1$, $b_1 = b_2 = 0$ it is GCU,
# which is also how the layer is initialised (plus a little noise).

# %%
xs = np.linspace(-8, 8, 800)
fig, ax = plt.subplots(figsize=(7, 4))
ax.plot(xs, np.maximum(xs, 0), label="ReLU  max(0, x)")
ax.plot(xs, gm.ggcu(xs), label="GCU  x·cos(x)")
ax.plot(xs, gm.ggcu(xs, w1=0.6, b1=0.5, w2=0.5, b2=0.3),
        label="GGCU  (0.6x + 0.5)·cos(0.5x + 0.3)")
ax.axhline(0, color="0.8", lw=0.8)
ax.set(xlabel="x", ylabel="activation", ylim=(-8, 8), title="Three activations")
ax.legend()
plotting.save_figure(fig, "03_ggcu_derivation/activations");

# %% [markdown]
# ## 2. Derivatives, symbolically
#
# Training needs $\partial\,\mathrm{GGCU}/\partial x$ (to pass the gradient back to earlier layers)
# and the derivatives with respect to the four parameters (to learn them). By the product and chain
# rules, with $u = w_1x + b_1$ and $v = w_2x + b_2$:
#
# $$\frac{\partial}{\partial x} = w_1\cos v - w_2\,u\sin v,\quad
#   \frac{\partial}{\partial w_1} = x\cos v,\quad \frac{\partial}{\partial b_1} = \cos v,\quad
#   \frac{\partial}{\partial w_2} = -x\,u\sin v,\quad \frac{\partial}{\partial b_2} = -u\sin v.$$
#
# `sympy` derives the same from the expression:

# %%
display(Math(r"\mathrm{GGCU}(x) = " + gm.sp.latex(gm.ggcu_expression())))
for name, expr in gm.ggcu_derivatives().items():
    display(Math(rf"\frac{{\partial\,\mathrm{{GGCU}}}}{{\partial {name}}} = " + gm.sp.latex(expr)))

# %% [markdown]
# ### Checking the derivatives three ways
#
# A derivation is only as good as its check. For a non-trivial parameter setting we compare the
# sympy derivative with (a) a central finite difference $\frac{f(t+h) - f(t-h)}{2h}$ and (b)
# TensorFlow's automatic differentiation (`tf.GradientTape`) through the very `GGCU` layer the
# model uses. Finite differences agree to about $10^{-9}$ (the truncation and round-off error of
# the method); autodiff agrees to machine precision, because it applies the same rules exactly.

# %%
check_points = np.linspace(-5, 5, 41)
check = gm.gradient_check(check_points, w1=1.3, b1=-0.2, w2=2.1, b2=0.4)
check

# %% [markdown]
# ## 3. Explore GGCU
#
# Move the sliders (in JupyterLab) to change the four parameters. Headless, a grid of
# representative settings is drawn instead. Watch:
#
# * **zeros** (dots): one from the linear factor, $x = -b_1/w_1$, and one every $\pi/|w_2|$ from the
#   cosine, $x = (\pi/2 + k\pi - b_2)/w_2$;
# * **oscillation**: period $2\pi/|w_2|$; with $w_2 \to 0$ GGCU becomes the straight line
#   $(w_1x + b_1)\cos b_2$;
# * **non-monotonicity**: the derivative changes sign between the zeros;
# * **growth**: the envelope $|w_1x + b_1|$ grows linearly, so unlike $\sin$ or $\tanh$ the
#   activation never saturates.

# %%
sliders = {"w1": (-2.0, 2.0, 0.05, 1.0), "b1": (-3.0, 3.0, 0.1, 0.0),
           "w2": (0.0, 4.0, 0.05, 1.0), "b2": (-3.2, 3.2, 0.1, 0.0)}
settings = [{},                                   # GCU
            {"w2": 2.5},                          # faster oscillation
            {"w2": 0.2},                          # almost linear
            {"b1": 2.0},                          # envelope shifted
            {"w1": 0.4, "b2": 1.2},               # flatter, phase-shifted
            {"w1": -1.0, "w2": 0.6, "b2": -0.8}]  # negative slope
widgets.slider_plot(lambda fig, **p: plotting.plot_ggcu(fig, **p), sliders, settings,
                    "03_ggcu_derivation/ggcu_explorer", columns=2, panel_size=(8.0, 3.0));

# %% [markdown]
# The properties in numbers, for the GCU setting and for a GGCU setting: how many zeros in
# $[-10, 10]$, how often the derivative changes sign there (each change is a turn of the function,
# so any is non-monotonicity), and the largest value reached (growth).

# %%
grid = np.linspace(-10, 10, 20001)
rows = []
for label, p in {"GCU": gm.GCU_PARAMETERS,
                 "GGCU w1=0.6 b1=0.5 w2=0.5 b2=0.3": dict(w1=0.6, b1=0.5, w2=0.5, b2=0.3),
                 "GGCU w2=2.5": dict(w1=1.0, b1=0.0, w2=2.5, b2=0.0)}.items():
    slope = gm.ggcu_gradient(grid, "x", **p)
    rows.append({"setting": label, "zeros in [-10, 10]": len(gm.ggcu_zeros(-10, 10, **p)),
                 "slope sign changes": int(np.sum(np.diff(np.sign(slope)) != 0)),
                 "max |GGCU| on [-10, 10]": float(np.max(np.abs(gm.ggcu(grid, **p))))})
pd.DataFrame(rows).set_index("setting")

# %% [markdown]
# ## 4. One neuron, XOR
#
# XOR labels the four corners of the unit square: $(0,0)\to0$, $(0,1)\to1$, $(1,0)\to1$,
# $(1,1)\to0$. Our "single neuron" computes $z = w^\top x + b$, applies the activation, and a
# monotone read-out $\sigma(v\,a(z) + c)$ turns it into a probability. The class boundary is a
# level set $a(w^\top x + b) = t$, i.e. made of lines *parallel to each other*.
#
# * With ReLU, $a(z) > t$ is one half-plane (or nothing, or everything): a straight line can put at
#   most three of the four XOR corners on the right side, so accuracy is at most **75 %**.
# * With GCU or GGCU, $a(z) = t$ has several solutions: the boundary is a set of parallel lines, and
#   a band between two of them can hold $(0,1)$ and $(1,0)$ but not the other two corners.
#
# Each neuron is trained with full-batch Adam from the same seed.

# %%
results = {}
for activation in tqdm(["relu", "gcu", "ggcu"], desc="XOR"):
    results[activation] = gm.train_xor(activation, seed=seed, steps=xor_steps)
pd.DataFrame({name: {"accuracy": r.accuracy, "final loss": r.losses[-1]}
              for name, r in results.items()}).T

# %%
fig, axes = plt.subplots(1, 4, figsize=(17, 4))
for ax, (name, result) in zip(axes, results.items()):
    plotting.plot_decision_regions(ax, result.predict, gm.XOR_POINTS, gm.XOR_LABELS,
                                   title=f"{name.upper()}: accuracy {result.accuracy:.0%}")
for name, result in results.items():
    axes[3].plot(result.losses, label=name.upper())
axes[3].set(xlabel="Adam step", ylabel="binary cross-entropy", yscale="log",
            title="training loss")
axes[3].legend()
plotting.save_figure(fig, "03_ggcu_derivation/xor_decision_regions");

# %%
assert results["ggcu"].accuracy == 1.0, "a single GGCU neuron should solve XOR"
assert results["relu"].accuracy <= 0.75, "a single ReLU neuron cannot solve XOR"
pd.Series(results["ggcu"].neuron, name="learned GGCU neuron").to_frame()

# %% [markdown]
# ## 5. Why GGCU's parameters are regularised
#
# The slope of GGCU is $w_1\cos v - w_2(w_1x+b_1)\sin v$: it scales with $w_2$ *and* with the
# input. If training pushes $w_2$ up, the activation oscillates faster than the features vary, a
# tiny change of the input flips the output, and gradients grow large and erratic: the unit turns
# into high-frequency noise that fits the training set and not the test set. A large $w_1$ has a
# similar effect on the envelope. AtomicVAD therefore adds a small penalty
# $\lambda_1\sum|w| + \lambda_2\sum w^2$ (`Config.ggcu_l1 = 1e-5`, `Config.ggcu_l2 = 1e-4`) on the
# four scalars of each GGCU layer, which keeps them near the GCU regime unless the data pay for more.
#
# The table shows how the largest slope on $[-3, 3]$, where the normalised features mostly lie,
# grows with $w_2$.

# %%
window = np.linspace(-3, 3, 6001)
pd.DataFrame({"w2": w2, "max |dGGCU/dx| on [-3, 3]":
              float(np.max(np.abs(gm.ggcu_gradient(window, "x", w2=w2))))}
             for w2 in (0.5, 1, 2, 4, 8, 16)).set_index("w2")

# %% [markdown]
# In the model the penalty shows up as one regularisation loss per GGCU layer, added to the
# training loss:

# %%
model = av.build_model(av.Config(), seed=seed)
model_stats.ggcu_parameters(model)[["layer", "l1", "l2", "penalty"]]

# %% [markdown]
# ## Exercises
#
# 1. Show that GGCU with $b_1 = 0$ is an odd function of
#    $x$ only when $b_2 = 0$ (or a multiple of $\pi$). Check it numerically with `gm.ggcu`.
# 2. Find, with the sliders, a setting where GGCU is monotone on $[-3, 3]$. What must hold for
#    $w_2$? Confirm with the sign changes of `gm.ggcu_gradient`.
# 3. Train the XOR neuron with `"gelu"` and `"silu"` (`gm.train_xor("gelu")`). Which solve XOR,
#    and why? (Hint: is the activation monotone?)
# 4. Replace `l1`, `l2` by 0 and by 1e-2 in `av.Config(ggcu_l1=..., ggcu_l2=...)`, build the model,
#    and compare the penalties. Which value would you expect to push GGCU towards the identity?
#
# The solutions are in the next cell (click it to expand in JupyterLab).

# %% jupyter={"source_hidden": true}
# Solutions
# 1. With b1 = 0: GGCU(-x) = -w1 x cos(-w2 x + b2) = -w1 x cos(w2 x - b2), which equals
#    -GGCU(x) = -w1 x cos(w2 x + b2) for all x only if cos(w2 x - b2) = cos(w2 x + b2), i.e.
#    sin(w2 x) sin(b2) = 0 for all x: b2 = k*pi.
x_check = np.linspace(-4, 4, 9)
print("odd for b2=0:  ", np.allclose(gm.ggcu(-x_check, 1.2, 0, 0.8, 0), -gm.ggcu(x_check, 1.2, 0, 0.8, 0)))
print("odd for b2=0.5:", np.allclose(gm.ggcu(-x_check, 1.2, 0, 0.8, 0.5), -gm.ggcu(x_check, 1.2, 0, 0.8, 0.5)))
# 2. For small w2 the slope w1 cos v - w2 u sin v keeps the sign of w1 (e.g. w2 <= 0.2, b2 = 0):
grid3 = np.linspace(-3, 3, 3001)
print("sign changes, w2=0.2:", int(np.sum(np.diff(np.sign(gm.ggcu_gradient(grid3, "x", w2=0.2))) != 0)))
# 3. GELU and SiLU have a single dip near zero, so one neuron can make a band; whether Adam finds
#    it depends on the start. ReLU (monotone) never can.
for name in ("gelu", "silu"):
    print(name, gm.train_xor(name, seed=seed, steps=xor_steps).accuracy)
# 4. The penalties scale with l1*sum|w| + l2*sum w^2; a large penalty drags w1 and w2 towards 0,
#    i.e. towards a constant function, not the identity (which GGCU cannot represent exactly).
for l in (0.0, 1e-2):
    m = av.build_model(av.Config(ggcu_l1=l, ggcu_l2=l), seed=seed)
    print(l, float(sum(np.asarray(loss) for loss in m.losses)))
