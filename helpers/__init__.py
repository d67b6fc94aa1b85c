"""Helpers for the *Activation Functions* book.

One package the notebooks call, so book and library never drift:

* :mod:`helpers.data` — MNIST / CIFAR-10 as normalised tensors (``load_dataset``).
* :mod:`helpers.models` — the paper's MLPs (``MLP``, ``make_model``).
* :mod:`helpers.train` — one model the paper's way (``train_model``, ``train_mlp``).
* :mod:`helpers.metrics` — node-level metrics (sparsity, saturation, class medians...).
* :mod:`helpers.plots` — the book's figure style.
* :mod:`helpers.profiles` — the ``quick`` / ``paper`` execution profiles.
"""

__version__ = "0.1.0"
