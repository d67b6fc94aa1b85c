"""Helpers for the *Activation Functions* book.

One package the notebooks call, so book and library never drift. Core modules are named
after what they do (``data``, ``models``, ``train``, ``engine``, ``grid``, ``metrics``,
``plots``, ``book``); chapter modules after the chapter's subject (``activations``,
``learning_curves``, ``class_medians``...). One line per module, as ``ls helpers/`` lists
them:

* :mod:`helpers.activation_cost` — ch. 1: what activations cost to compute (timings).
* :mod:`helpers.activation_distributions` — ch. 5: typical nodes, layer summaries, Figs 3-4.
* :mod:`helpers.activation_registry` — the one registry of activations: names, colours, init.
* :mod:`helpers.activations` — ch. 1: activation functions by hand, closed-form derivatives.
* :mod:`helpers.book` — headless execution and the site build (``python -m helpers.book``).
* :mod:`helpers.chapter_results` — train once, commit, load: ``paper`` results of chapters.
* :mod:`helpers.chapter_setup` — ``helpers.setup()``, the one call at the head of a chapter.
* :mod:`helpers.claims` — every claim of the paper with a seed-aware verdict (ch. 4-7).
* :mod:`helpers.class_information` — ch. 8: the chapter's nets, node selectivity, linear probes.
* :mod:`helpers.class_medians` — ch. 6: class medians and their overlap, Table 1, Figs 5-7.
* :mod:`helpers.class_probes` — ch. 8: linear probes, update-to-data ratio, ``ClassInfoProbe``.
* :mod:`helpers.cnn_sigmoid_vs_relu` — ch. 10: the W&B report's CIFAR-10 CNN experiment.
* :mod:`helpers.cnn_step_profile` — ch. 10: where a CNN training step spends its time.
* :mod:`helpers.data` — MNIST / CIFAR-10 as normalised tensors (``load_dataset``).
* :mod:`helpers.dynamics` — ch. 1-3: before training, dead versus sparse units, the figures.
* :mod:`helpers.engine` — many same-shaped models at once (``train_stacked``).
* :mod:`helpers.grid` — the paper's grid (``run_grid``, ``load_results``, ``checkpoint``; CLI).
* :mod:`helpers.inspected_nets` — ch. 5-7 (paper Section 3): the 4x200 nets it inspects.
* :mod:`helpers.learning_curves` — ch. 4 (paper Section 2): Figs 1-2, test accuracy, halting.
* :mod:`helpers.metrics` — node-level metrics and the per-layer statistics of every grid run.
* :mod:`helpers.model_variants` — ch. 1-3: the MLP with other inits, gains, activations.
* :mod:`helpers.models` — the paper's MLPs (``MLP``, ``make_model``) and ch. 10's ``CNN``.
* :mod:`helpers.newer_activations` — ch. 9: tanh, ELU, SELU, GELU, SiLU... on the paper's nets.
* :mod:`helpers.plots` — the book's figure style and shared figure helpers.
* :mod:`helpers.profiles` — the ``quick`` / ``paper`` execution profiles.
* :mod:`helpers.runtime` — device, git commit, torch threads, the ``ACTFN_NO_TRAIN`` guard.
* :mod:`helpers.sparsity_generalisation` — ch. 8: sparsity versus test accuracy across the grid.
* :mod:`helpers.stack_run` — the engine's loop: live stack, best states, results, snapshots.
* :mod:`helpers.stacked_mlp` — the engine's math: K MLPs in one matrix, forward, Adam.
* :mod:`helpers.stored_tables` — ch. 6-8: tables kept for a machine with another data copy.
* :mod:`helpers.train` — one model the paper's way (``train_model``, ``train_mlp``).
* :mod:`helpers.training_dynamics` — ch. 8: per-epoch tables, the Table 1 gap (CLI ``dynamics``).
* :mod:`helpers.training_probes` — ch. 2-3: per-layer probes after every epoch (``EpochProbe``).
* :mod:`helpers.training_steps` — what both trainers share: batch order, evaluation, stopping.
* :mod:`helpers.zero_centring` — ch. 1: why zero-centred outputs matter (per-sample grads).
"""

import warnings as _warnings

__version__ = "0.1.0"

# Progress bars come from tqdm.auto: widgets where ipywidgets is installed, text otherwise.
# Without ipywidgets its import warns in every notebook; the text bars work, so say nothing.
with _warnings.catch_warnings():
    _warnings.filterwarnings("ignore", message="IProgress not found")
    import tqdm.auto  # noqa: F401


def setup(*args, **kwargs):
    """The one call at the head of every chapter: see :func:`helpers.chapter_setup.setup`."""
    from .chapter_setup import setup as _setup
    return _setup(*args, **kwargs)
