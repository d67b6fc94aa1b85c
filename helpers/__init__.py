"""Helpers for the *Activation Functions* book.

One package the notebooks call, so book and library never drift:

* :mod:`helpers.data` — MNIST / CIFAR-10 as normalised tensors (``load_dataset``).
* :mod:`helpers.models` — the paper's MLPs (``MLP``, ``make_model``, ``pre_activations``).
  It also holds the small vanilla CNN of chapter 10 (``CNN``, ``make_cnn``).
* :mod:`helpers.model_variants` — the MLP with other initialisations, weight gains and
  activations (``make_variant``; ch. 1–3).
* :mod:`helpers.training_steps` — what both trainers share: batch order, evaluation,
  early stopping, argument checks.
* :mod:`helpers.train` — one model the paper's way (``train_model``, ``train_mlp``).
* :mod:`helpers.training_probes` — per-layer probes after every epoch (``EpochProbe``,
  ``run_configs``; ch. 2–3).
* :mod:`helpers.engine` — many same-shaped models at once (``train_stacked``).
* :mod:`helpers.grid` — the paper's grid: spec, protocol (LR search, halting replay), store,
  runner, cost plan (``run_grid``, ``load_results``, ``checkpoint``; CLI
  ``python -m helpers.grid run|plan|status``).
* :mod:`helpers.runtime` — device choice and naming, git commit, torch threads, the
  ``ACTFN_NO_TRAIN`` guard.
* :mod:`helpers.metrics` — node-level metrics (sparsity, saturation, class medians...).
* :mod:`helpers.plots` — the book's figure style.
* :mod:`helpers.profiles` — the ``quick`` / ``paper`` execution profiles.
* :mod:`helpers.book` — headless execution and the site build (``python -m helpers.book``).
* Chapter topics: :mod:`helpers.activations` (ch. 1), :mod:`helpers.dynamics` (ch. 1–3:
  before training, dead versus sparse units, the figures), :mod:`helpers.section2`
  (ch. 4), :mod:`helpers.nodes` and :mod:`helpers.section3_nets` (ch. 5–6).
* :mod:`helpers.claims` — every claim of the paper with a seed-aware verdict, shared by
  chapters 4–6 and the scoreboard (ch. 7, ``data/results/<profile>/claims.csv``): judging
  core, input views, Section 2 and Section 3 rules, the catalogue of claims, scoreboard
  tables, input gathering.
* :mod:`helpers.class_information` — where class information lives: node selectivity,
  linear probes, update ratios, sparsity vs generalisation (ch. 8).
* :mod:`helpers.cnn_sigmoid_vs_relu` — the W&B report's CIFAR-10 CNN experiment, measured:
  time per epoch, convergence, overfitting, activation-alone time, verdicts (ch. 10).
"""

__version__ = "0.1.0"
