"""Helpers for the *Activation Functions* book.

One package the notebooks call, so book and library never drift:

* :mod:`helpers.data` — MNIST / CIFAR-10 as normalised tensors (``load_dataset``).
* :mod:`helpers.models` — the paper's MLPs (``MLP``, ``make_model``, ``pre_activations``).
* :mod:`helpers.model_variants` — the MLP with other initialisations, weight gains and
  activations (``make_variant``; ch. 1–3).
* :mod:`helpers.training_steps` — what both trainers share: batch order, evaluation,
  early stopping, argument checks.
* :mod:`helpers.train` — one model the paper's way (``train_model``, ``train_mlp``).
* :mod:`helpers.training_probes` — per-layer probes after every epoch (``EpochProbe``,
  ``run_configs``; ch. 2–3).
* :mod:`helpers.engine` — many same-shaped models at once (``train_stacked``), built on
  :mod:`helpers.stacked_mlp` (the stack's math: layout, forward, Adam) and
  :mod:`helpers.stack_run` (the loop, its results and snapshots).
* :mod:`helpers.grid` — the paper's grid: spec, protocol (LR search, halting replay), store,
  runner, cost plan (``run_grid``, ``load_results``, ``checkpoint``; CLI
  ``python -m helpers.grid run|plan|status``).
* :mod:`helpers.runtime` — device choice and naming, git commit, torch threads, the
  ``ACTFN_NO_TRAIN`` guard.
* :mod:`helpers.metrics` — node-level metrics (sparsity, saturation, gradient saturation,
  node perplexity, class medians...) and the per-layer statistics every grid run records.
* :mod:`helpers.plots` — the book's figure style.
* :mod:`helpers.profiles` — the ``quick`` / ``paper`` execution profiles.
* :mod:`helpers.book` — headless execution and the site build (``python -m helpers.book``).
* :mod:`helpers.chapter_setup` — ``helpers.setup()``, the one call at the head of a chapter.
* Chapter topics: :mod:`helpers.activations` (ch. 1: the registry of hand-written
  activations, the sigmoid's window), :mod:`helpers.activation_cost` (ch. 1: timings),
  :mod:`helpers.zero_centring` (ch. 1: per-sample gradients), :mod:`helpers.dynamics` (ch. 1–3:
  before training, dead versus sparse units, the figures), :mod:`helpers.section2`
  (ch. 4), :mod:`helpers.nodes` and :mod:`helpers.section3_nets` (ch. 5–6).
* :mod:`helpers.claims` — every claim of the paper with a seed-aware verdict, shared by
  chapters 4–6 and the scoreboard (ch. 7, ``data/results/<profile>/claims.csv``): judging
  core, input views, Section 2 and Section 3 rules, the catalogue of claims, scoreboard
  tables, input gathering.
* :mod:`helpers.class_information` — where class information lives: node selectivity,
  linear probes, update ratios, sparsity vs generalisation (ch. 8).
* :mod:`helpers.newer_activations` — tanh, leaky ReLU, ELU, SELU, GELU, SiLU on the paper's
  nets (the ``activations`` grid), and the literature's claims judged (ch. 9).
"""

__version__ = "0.1.0"


def setup(*args, **kwargs):
    """The one call at the head of every chapter: see :func:`helpers.chapter_setup.setup`."""
    from .chapter_setup import setup as _setup
    return _setup(*args, **kwargs)
