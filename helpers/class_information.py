"""Where class information lives in a network (chapter 8, "Beyond the paper"): the chapter's
nets, node selectivity and linear probes.

* **The nets** — :func:`chapter_nets`: ``quick`` trains every configuration x seed live with
  :func:`train_probed` (with :class:`helpers.class_probes.ClassInfoProbe`), ``paper`` loads
  the grid's 4-layer checkpoints (:func:`grid_nets`); each is a :class:`ProbedNet`, untrained
  and trained. :func:`settings` holds the chapter's settings per profile.
* **Node selectivity** — for every hidden node, the class distribution of the samples that
  switch it *on* (:func:`helpers.class_probes.on_threshold`), summarised by its perplexity
  ``exp(entropy)`` (:func:`helpers.metrics.node_perplexity`): 1 = the node fires for one
  class only, ``n_classes`` = class-agnostic. A node that is never on has no class
  distribution: its perplexity is NaN (counted separately as "never on"). After Davel,
  Theunissen, Pretorius & Barnard (AAAI 2020). :func:`perplexity_table`,
  :func:`layer_perplexity_summary`, :func:`selectivity_table`.
* **Linear probes** — :func:`probe_table`: :func:`helpers.class_probes.layer_probes` on
  every net, state and layer (stored per net in ``paper``, keyed by :func:`net_fingerprint`).
* **The numbers the prose quotes**, as text (``pending`` where missing):
  :func:`perplexity_numbers`, :func:`probe_numbers`.
* Figures: ``plot_perplexity``, ``plot_probe_accuracy``.

The dynamics over training and the Table 1 gap are in :mod:`helpers.training_dynamics`
(command line: ``python -m helpers.class_information dynamics ...``, forwarded there),
sparsity versus generalisation across the grid in :mod:`helpers.sparsity_generalisation`.

Training guard: with the environment variable ``ACTFN_NO_TRAIN=1`` every function here
that would train a network raises ``RuntimeError`` (:func:`check_training_allowed`); the
``paper`` profile of the chapter only reads committed results.

Layers are numbered from 1 (layer 0 = the input pixels, for probes). Percentages are 0-100.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from torch import Tensor

from .activation_registry import net_name
from .book import PENDING, as_text
from .class_probes import (
    PROBE_L2,
    ClassInfoProbe,
    check_choice,
    layer_probes,
    on_threshold,
)
from .data import Dataset, source_label
from .inspected_nets import InspectedNet
from .metrics import hidden_activations, node_perplexity
from .models import make_model
from .runtime import check_training_allowed

CONFIGS: tuple[tuple[str, bool], ...] = (("sigmoid", False), ("relu", False), ("relu", True))
MODEL_COLORS = {"sigmoid": "#d62728", "sigmoid BN": "#ff9896", "ReLU": "#1f77b4",
                "ReLU BN": "#2ca02c"}
SETTINGS: dict[str, dict] = {
    # quick: 4x100 nets on the seeded MNIST subsets of chapters 5-6, a few epochs, 1 thread
    "quick": dict(depth=4, width=100, lr=1e-3, batch_size=128, max_epochs=5, patience=5,
                  probe_l2=PROBE_L2, probe_max_iter=100, probe_n_train=2_000, cpu_threads=1),
    # paper: the grid's 4x200 checkpoints; probes fitted on 10 000 training samples, their
    # L2 strength chosen on the whole validation split
    "paper": dict(depth=4, width=200, lr=1e-3, batch_size=128, max_epochs=300, patience=20,
                  probe_l2=PROBE_L2, probe_max_iter=200, probe_n_train=10_000,
                  cpu_threads=1),
}


def model_name(activation: str, batch_norm: bool) -> str:
    """``"ReLU BN"``, ``"sigmoid"``... as the paper's tables name the nets."""
    return net_name(activation, batch_norm)


# --- node selectivity ----------------------------------------------------------------

def perplexity_table(hidden: Sequence[Tensor], y: Tensor, n_classes: int,
                     threshold: float = 0.0, balanced: bool = False) -> pd.DataFrame:
    """One row per (layer, node): ``perplexity`` and ``on (%)`` (share of samples on)."""
    rows = []
    for layer, h in enumerate(hidden, start=1):
        ppl = node_perplexity(h, y, n_classes, threshold, balanced)
        on = (h > threshold).float().mean(0) * 100
        rows.append(pd.DataFrame({"layer": layer, "node": np.arange(h.shape[1]),
                                  "perplexity": ppl.numpy(), "on (%)": on.cpu().numpy()}))
    return pd.concat(rows, ignore_index=True)


def layer_perplexity_summary(table: pd.DataFrame, by: Sequence[str] = ()) -> pd.DataFrame:
    """Per ``by`` + layer: nodes, never on (%), median and mean perplexity of the nodes
    that are on for some sample, and the share of those with perplexity <= 2 (%)."""
    keys = [*by, "layer"]

    def one(g: pd.DataFrame) -> pd.Series:
        p = g["perplexity"].dropna()
        return pd.Series({"nodes": len(g), "never on (%)": 100 * g["perplexity"].isna().mean(),
                          "median perplexity": p.median(), "mean perplexity": p.mean(),
                          "perplexity <= 2 (%)": 100 * (p <= 2).mean() if len(p) else np.nan})

    return table.groupby(keys, sort=False)[["perplexity"]].apply(one).reset_index()


# --- the chapter's nets --------------------------------------------------------------

@dataclass
class ProbedNet(InspectedNet):
    """A net of chapter 8: ``history``/``steps`` are the per-epoch and per-step probe
    records (nets trained here)."""

    origin: str = ""
    history: pd.DataFrame | None = None
    steps: pd.DataFrame | None = None
    lr: float | None = None


def settings(profile: str) -> dict:
    """A copy of the chapter settings of ``profile`` (``quick`` or ``paper``)."""
    check_choice("profile", profile, tuple(SETTINGS))
    return dict(SETTINGS[profile])


def train_probed(data: Dataset, activation: str, batch_norm: bool, seed: int, s: dict,
                 lr: float | None = None, progress: bool = False,
                 threshold: float = 0.5) -> ProbedNet:
    """Train one seeded net with :class:`ClassInfoProbe` (probe samples: the validation
    split). Refused under ``ACTFN_NO_TRAIN=1``."""
    from .inspected_nets import torch_threads
    from .train import train_model

    check_training_allowed(f"training {model_name(activation, batch_norm)} seed {seed}")
    lr = s["lr"] if lr is None else lr
    model = make_model(data.n_features, s["depth"], s["width"], activation, batch_norm,
                       data.n_classes, seed=seed)
    untrained = make_model(data.n_features, s["depth"], s["width"], activation, batch_norm,
                           data.n_classes, seed=seed).eval()
    probe = ClassInfoProbe(data.val.x, data.val.y, data.n_classes, activation, threshold)
    with torch_threads(s.get("cpu_threads")), probe.recording(model):
        res = train_model(model, data, lr=lr, batch_size=s["batch_size"],
                          max_epochs=s["max_epochs"], patience=s["patience"], seed=seed,
                          progress=progress, on_epoch_end=probe,
                          desc=f"{model_name(activation, batch_norm)} seed {seed}")
    cfg = dict(dataset=data.name, model=model_name(activation, batch_norm), seed=seed)
    return ProbedNet(data.name, data.source, activation, batch_norm, seed, untrained,
                     res.model.cpu().eval(), res.test_acc, "trained now",
                     res.history.assign(**cfg, best_epoch=res.best_epoch),
                     probe.steps.assign(**cfg), lr)


def grid_nets(profile: str, data: Dataset, configs: Sequence[tuple[str, bool]] = CONFIGS,
              seeds: Sequence[int] = (0, 1, 2), width: int | None = None
              ) -> tuple[dict[tuple[str, bool, int], ProbedNet], list[tuple[str, bool, int]]]:
    """Load the grid's 4-layer checkpoints (never trains): ``(nets, missing)``. Nets the
    grid trained on another copy of ``data`` count as missing; one line says why."""
    from .grid import DataSourceMismatch, checkpoint
    from .train import evaluate

    nets, missing, mismatch = {}, [], None
    for activation, batch_norm in configs:
        for seed in seeds:
            key = (activation, batch_norm, seed)
            try:
                trained = checkpoint(profile, data.name, activation, batch_norm, seed,
                                     trained=True, width=width, source=data.source)
                untrained = checkpoint(profile, data.name, activation, batch_norm, seed,
                                       trained=False, width=width, source=data.source)
            except DataSourceMismatch as err:
                mismatch = err
                missing.append(key)
                continue
            except (FileNotFoundError, ValueError, KeyError):
                missing.append(key)
                continue
            acc = evaluate(trained, data.test.to("cpu"))[1]
            nets[key] = ProbedNet(data.name, data.source, activation, batch_norm, seed,
                                  untrained.eval(), trained.eval(), acc, "grid checkpoint")
    if mismatch is not None:
        print(f"{data.label}: not read here: {mismatch}")
    return nets, missing


def selectivity_table(nets: Iterable[ProbedNet], data: Dataset, threshold: float = 0.5,
                      states: Sequence[str] = ("untrained", "trained")) -> pd.DataFrame:
    """Node perplexities of every net and state on ``data.test`` (one row per node)."""
    rows = []
    for net in nets:
        for state in states:
            hidden = [h.cpu() for h in hidden_activations(net.model(state), data.test.x)]
            t = perplexity_table(hidden, data.test.y.cpu(), data.n_classes,
                                 on_threshold(net.activation, threshold))
            rows.append(t.assign(dataset=net.dataset, source=net.source,
                                 model=net.model_name, seed=net.seed, state=state))
    return pd.concat(rows, ignore_index=True)


def probe_table(nets: Iterable[ProbedNet], data: Dataset, s: dict,
                states: Sequence[str] = ("untrained", "trained"), seed: int = 0,
                profile: str = "quick") -> pd.DataFrame:
    """Linear-probe accuracies of every net, state and layer; layer 0 (the input) once per
    dataset, with ``model="input"``. Probes fit on ``s["probe_n_train"]`` training samples
    (all when None) to convergence (at most ``s["probe_max_iter"]`` L-BFGS iterations), with
    the L2 strength of ``s["probe_l2"]`` that scores best on ``data.val``.

    In ``paper`` each net's rows (and the input's) are stored once per net and settings
    (:func:`helpers.chapter_results.train_or_load`, keyed by a fingerprint of the trained
    weights), so the book reloads them; a net the store does not hold yet is probed live.
    """
    from .chapter_results import train_or_load

    train = data.train.take(s["probe_n_train"], seed=seed) if s["probe_n_train"] else data.train
    kw = dict(l2=tuple(s["probe_l2"]), max_iter=s["probe_max_iter"])
    tx, ty, ex, ey = train.x.cpu(), train.y.cpu(), data.test.x.cpu(), data.test.y.cpu()
    vx, vy = data.val.x.cpu(), data.val.y.cpu()
    key = {k: s[k] for k in ("probe_n_train", "probe_max_iter")} | dict(
        probe_l2=list(s["probe_l2"]), seed=seed, dataset=data.name, source=data.source,
        n_val=len(data.val), n_test=len(data.test))

    def input_rows() -> pd.DataFrame:
        return layer_probes(None, tx, ty, ex, ey, data.n_classes, include_input=True,
                            val_x=vx, val_y=vy, **kw).assign(model="input", state="input",
                                                             seed=seed)

    def net_rows(net: ProbedNet) -> pd.DataFrame:
        return pd.concat([layer_probes(net.model(state), tx, ty, ex, ey, data.n_classes,
                                       val_x=vx, val_y=vy, **kw)
                          .assign(model=net.model_name, state=state, seed=net.seed)
                          for state in states], ignore_index=True)

    rows = [train_or_load("08_input_probe", input_rows, profile, key, trains=False,
                          verbose=False)]
    for net in nets:
        net_key = key | dict(model=net.model_name, net_seed=net.seed, states=list(states),
                             weights=net_fingerprint(net))
        rows.append(train_or_load("08_layer_probes", lambda net=net: net_rows(net), profile,
                                  net_key, trains=False, verbose=False))
    return pd.concat(rows, ignore_index=True).assign(dataset=data.name, source=data.source)


def net_fingerprint(net: ProbedNet) -> str:
    """A short hash of the trained and untrained weights of ``net``: stored analyses of a
    net are reused only for exactly these weights."""
    h = hashlib.sha256()
    for model in (net.untrained, net.trained):
        for name, t in sorted(model.state_dict().items()):
            h.update(name.encode())
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:12]


def available_checkpoints(profile: str, dataset: str,
                          configs: Sequence[tuple[str, bool]] = CONFIGS,
                          seeds: Sequence[int] = (0, 1, 2)) -> list[tuple[str, bool, int]]:
    """The (activation, batch_norm, seed) whose trained 4-layer checkpoint the grid holds."""
    from .grid import checkpoint

    found = []
    for activation, batch_norm in configs:
        for seed in seeds:
            try:
                checkpoint(profile, dataset, activation, batch_norm, seed, trained=True)
            except (FileNotFoundError, ValueError, KeyError):
                continue
            found.append((activation, batch_norm, seed))
    return found


def chapter_nets(profile: str, dataset: str, seeds: Sequence[int] = (0, 1, 2),
                 configs: Sequence[tuple[str, bool]] = CONFIGS, root=None,
                 progress: bool = False) -> tuple[Dataset | None, dict, list]:
    """``(data, nets, missing)`` for the chapter. ``quick``: trains every config x seed
    live with :func:`train_probed` (refused under ``ACTFN_NO_TRAIN=1``). ``paper``: only
    the grid's checkpoints, never training; ``data`` is None when none exists yet."""
    from .inspected_nets import section3_data

    check_choice("profile", profile, tuple(SETTINGS))
    keys = [(a, b, seed) for a, b in configs for seed in seeds]
    if profile == "paper":
        found = available_checkpoints(profile, dataset, configs, seeds)
        if not found:
            return None, {}, keys
        data = section3_data(dataset, profile, root=root)
        nets, missing = grid_nets(profile, data, configs, seeds)
        return data, nets, missing
    check_training_allowed(f"training the quick {dataset} nets")
    data = section3_data(dataset, profile, root=root)
    s = settings(profile)
    nets = {(a, b, seed): train_probed(data, a, b, seed, s, progress=progress)
            for a, b, seed in keys}
    return data, nets, []


# --- tables stored for a machine with another copy of the data ----------------------
# For a dataset that exists here in two copies (stored_tables.TWO_COPIES: genuine CIFAR-10
# and the JPEG copy the grid trained on), where the grid's copy is at hand the paper profile
# stores what the chapter computes from its nets, and a machine with the other copy reads it
STORED_TABLES = ("accuracy", "selectivity", "probes")
COMPRESSED = ("selectivity",)  # one row per node, net and state


def stored_dir(profile: str, root=None) -> Path:
    """``data/results/<profile>/class_information/nets/``: the stored tables."""
    from .grid.store import RESULTS_ROOT

    return Path(root or RESULTS_ROOT) / profile / "class_information" / "nets"


def stored_settings(seeds: Sequence[int], threshold: float, s: dict) -> dict:
    """What the stored tables depend on besides the nets: seeds, the on-threshold and the
    probes' settings."""
    return {"seeds": list(seeds), "threshold": threshold,
            **{k: (list(s[k]) if k == "probe_l2" else s[k])
               for k in ("probe_n_train", "probe_max_iter", "probe_l2")}}


DEFAULT_STORED = stored_settings((0, 1, 2), 0.5, SETTINGS["paper"])  # the chapter's defaults


def keep_tables(tables: dict[str, pd.DataFrame | None], profile: str, key: dict,
                root=None) -> list[Path]:
    """Store the rows of ``tables`` whose dataset exists in two copies (``paper`` and the
    chapter's default settings only: a reader's own settings are computed, never stored)."""
    from .stored_tables import TWO_COPIES, store_tables

    if profile != "paper" or key != DEFAULT_STORED:
        return []
    keep = {name: t[t["dataset"].isin(TWO_COPIES)] for name, t in tables.items()
            if name in STORED_TABLES and t is not None and len(t) and "dataset" in t}
    keep = {name: t for name, t in keep.items() if len(t)}
    return store_tables(stored_dir(profile, root), keep, key, COMPRESSED) if keep else []


def stored_tables(profile: str, dataset: str, key: dict, root=None) -> dict[str, pd.DataFrame]:
    """The stored tables of ``dataset`` computed with ``key`` on the copy the committed grid
    trained on (``{}``: none, or another copy, or other settings)."""
    from .grid import load_results
    from .stored_tables import TWO_COPIES, load_tables

    if dataset not in TWO_COPIES:
        return {}
    sources = set(load_results(profile, dataset, missing_ok=True).runs.get("source", []))
    if len(sources) != 1:
        return {}
    found = load_tables(stored_dir(profile, root), dataset, STORED_TABLES, key, "source",
                        sources.pop(), COMPRESSED)
    return found if set(found) == set(STORED_TABLES) else {}


def accuracy_table(loaded: dict[str, tuple[Dataset, dict]],
                   stored: dict[str, dict[str, pd.DataFrame]] | None = None) -> pd.DataFrame:
    """Test accuracy (%) of every net read (``loaded``: name -> (data, nets)), and of those
    whose stored tables stand in for them."""
    read = pd.DataFrame([{"dataset": n.dataset, "source": n.source,
                          "data": source_label(n.source), "model": n.model_name,
                          "seed": n.seed, "test acc (%)": 100 * n.test_acc}
                         for _, nets in loaded.values() for n in nets.values()])
    return pd.concat([read, *[t["accuracy"] for t in (stored or {}).values()]],
                     ignore_index=True)


def net_status(name: str, nets: dict, missing: list, stored: dict[str, pd.DataFrame]) -> dict:
    """One row of the chapter's status table: nets found (or stood in for by stored tables),
    where from, and what is pending."""
    if stored:
        acc = stored["accuracy"]
        return {"dataset": name, "nets found": len(acc), "nets expected": len(acc),
                "origin": f"tables stored from {source_label(acc['source'].iloc[0])}",
                "pending": "none"}
    return {"dataset": name, "nets found": len(nets), "nets expected": len(nets) + len(missing),
            "origin": ", ".join(sorted({n.origin for n in nets.values()})) or "-",
            "pending": ", ".join(f"{model_name(a, b)} seed {s}" for a, b, s in missing)
                       or "none"}


def selectivity_tables(loaded: dict[str, tuple[Dataset, dict]],
                       stored: dict[str, dict[str, pd.DataFrame]], threshold: float
                       ) -> pd.DataFrame | None:
    """:func:`selectivity_table` of every net read, beside the stored ones (perplexities to
    5 decimals, as stored); None where there is neither."""
    tables = [selectivity_table(nets.values(), data, threshold).round({"perplexity": 5})
              for data, nets in loaded.values()]
    tables += [t["selectivity"] for t in stored.values()]
    return pd.concat(tables, ignore_index=True) if tables else None


def probe_tables(loaded: dict[str, tuple[Dataset, dict]],
                 stored: dict[str, dict[str, pd.DataFrame]], s: dict, profile: str
                 ) -> pd.DataFrame | None:
    """:func:`probe_table` of every net read, beside the stored ones; None where neither."""
    tables = [probe_table(nets.values(), data, s, profile=profile)
              for data, nets in loaded.values()]
    tables += [t["probes"] for t in stored.values()]
    return pd.concat(tables, ignore_index=True) if tables else None


# --- figures -------------------------------------------------------------------------

# --- the numbers the chapter quotes ----------------------------------------------------

CHAPTER_MODELS = ("ReLU BN", "ReLU", "sigmoid")  # as model_name writes them


def model_key(model: str) -> str:
    """``"ReLU BN"`` -> ``"relu_bn"``: a model's part of a glue key."""
    return model.lower().replace(" ", "_")


def perplexity_at(ppl: pd.DataFrame, model: str, state: str, layer: int,
                  source: str = "mnist", column: str = "median perplexity") -> float | None:
    """One value of :func:`layer_perplexity_summary` (by source, model and state), or None."""
    if ppl is None or ppl.empty:
        return None
    row = ppl[(ppl["source"] == source) & (ppl["model"] == model) & (ppl["state"] == state)
              & (ppl["layer"] == layer)]
    return float(row[column].iloc[0]) if len(row) else None


def perplexity_numbers(ppl: pd.DataFrame | None, last: int, sources: Sequence[str]
                       ) -> dict[str, str]:
    """The node-perplexity numbers chapter 8's prose quotes (MNIST unless said), as text.
    ``ppl``: :func:`layer_perplexity_summary` by ``["source", "model", "state"]``; ``last``:
    the last hidden layer; ``sources``: the data sources whose nets were inspected. Keys:
    ``ppl_<model>_l1``/``_last`` (trained), ``ppl_untrained_<model>_last``,
    ``ppl_relu_trend`` (ReLU's layer 1 to last), ``ppl_bn_vs_relu`` (last layer),
    ``ppl_learnt`` (untrained against trained, ReLU's last layer), ``ppl_sigmoid_vs_relu``
    (in how many layers the sigmoid nodes have the lower median, per source) and
    ``ppl_sigmoid_reading`` (which are the more selective, over all those layers)."""
    def at(model: str, layer: int, state: str = "trained", source: str = "mnist"):
        return perplexity_at(ppl, model, state, layer, source)

    out = {}
    for m in CHAPTER_MODELS:
        out[f"ppl_{model_key(m)}_l1"] = as_text(at(m, 1))
        out[f"ppl_{model_key(m)}_last"] = as_text(at(m, last))
    for m in ("ReLU", "sigmoid"):
        out[f"ppl_untrained_{model_key(m)}_last"] = as_text(at(m, last, "untrained"))
    relu_first, relu_last, bn_last = at("ReLU", 1), at("ReLU", last), at("ReLU BN", last)
    untrained = at("ReLU", last, "untrained")
    out["ppl_relu_trend"] = PENDING if None in (relu_first, relu_last) else (
        "falls" if relu_last < relu_first else "does not fall")
    out["ppl_bn_vs_relu"] = PENDING if None in (bn_last, relu_last) else (
        "higher" if bn_last > relu_last else "not higher")
    out["ppl_learnt"] = PENDING if None in (relu_last, untrained) else (
        "above the trained value: the specialisation is learnt" if untrained > relu_last
        else "not above the trained value: training did not make the last layer more "
        "selective")
    compared = {}
    for src in sources:  # layers where the sigmoid nodes are more class-specific than ReLU's
        pairs = [(at("sigmoid", i, source=src), at("ReLU", i, source=src))
                 for i in range(1, last + 1)]
        pairs = [(sg, r) for sg, r in pairs if sg is not None and r is not None]
        if pairs:
            compared[src] = (sum(sg < r for sg, r in pairs), len(pairs))
    out["ppl_sigmoid_vs_relu"] = " and ".join(
        f"{k} of {n} layers on {source_label(s)}" for s, (k, n) in compared.items()) or PENDING
    lower, layers = (sum(c[i] for c in compared.values()) for i in (0, 1))
    out["ppl_sigmoid_reading"] = PENDING if not layers else (
        "By this on/off measure the sigmoid nodes are the more selective ones. The paper's "
        "reading is about the activation values (\"plenty of overlap between activation "
        "distributions\" for sigmoid), which an on/off count does not see, so the two need not "
        "disagree; they describe different things." if lower > layers / 2 else
        "By this measure the ReLU nodes are the more selective ones, as the paper's reading of "
        "its figures suggests." if lower < layers / 2 else
        "By this measure neither activation's nodes are the more selective ones: each has the "
        "lower median in half of the layers.")
    return out


def seed_agreement(selectivity: pd.DataFrame | None, a: str = "sigmoid", b: str = "ReLU",
                   state: str = "trained", by: str = "layer", min_nodes: int = 10) -> str:
    """Per data source, in how many layers (``by="layer"``) or on-rate bands
    (``by="band"``, :data:`ON_RATE_BANDS`) model ``a``'s median node perplexity is lower
    than ``b``'s in *every* seed, in how many ``b``'s is, and in how many the seeds
    disagree: the pooled medians' comparison, checked seed by seed (nodes never on left out;
    a band counts where every seed has ``min_nodes`` nodes of both models)."""
    if by not in ("layer", "band"):
        raise ValueError(f"by={by!r}; accepted: 'layer', 'band'")
    if selectivity is None or not len(selectivity):
        return PENDING
    t = selectivity[(selectivity["state"] == state) & selectivity["model"].isin([a, b])]
    t = t.dropna(subset=["perplexity"])
    if by == "band":
        t = t.assign(band=pd.cut(t["on (%)"], list(ON_RATE_BANDS), right=False))
    g = t.groupby(["source", by, "seed", "model"], sort=False, observed=True)["perplexity"]
    med = g.median().unstack("model")
    if a not in med or b not in med:
        return PENDING
    if by == "band":
        med = med[(g.size().unstack("model")[[a, b]] >= min_nodes).all(axis=1)]
    med = med.dropna()
    parts = []
    for src, m in med.groupby(level="source", sort=False):
        seeds = m.index.get_level_values("seed").nunique()
        lower = (m[a] < m[b]).groupby(level=by, observed=True)
        full = lower.size() == seeds  # every seed present
        a_low, b_low = int((lower.all() & full).sum()), int((~lower.any() & full).sum())
        n = int(full.sum())
        unit = "layers" if by == "layer" else "on-rate bands"
        parts.append(f"on {source_label(src)} {a}'s median is the lower in every seed in "
                     f"{a_low} of {n} {unit}, {b}'s in {b_low}"
                     + (f", and the seeds disagree in {n - a_low - b_low}"
                        if n - a_low - b_low else ""))
    return "; ".join(parts) or PENDING


ON_RATE_BANDS = (0.0, 10.0, 30.0, 50.0, 70.0, 90.0, 100.01)  # % of test images a node is on


def on_rate_matched(selectivity: pd.DataFrame, state: str = "trained",
                    bands: Sequence[float] = ON_RATE_BANDS) -> pd.DataFrame:
    """Node perplexity compared at equal on-rate: per data source, band of ``on (%)`` and
    model, the nodes (of ``state``, all layers and seeds pooled) and their median
    perplexity. A node on for a share p of a balanced test set spans at least about
    ``p * n_classes`` classes, so models whose nodes fire at different rates are compared
    band by band. Nodes never on are left out."""
    t = selectivity[(selectivity["state"] == state)].dropna(subset=["perplexity"])
    labels = [f"{lo:g}–{min(hi, 100):g} %" for lo, hi in zip(bands[:-1], bands[1:])]
    band = pd.cut(t["on (%)"], list(bands), right=False, labels=labels)
    order = list(dict.fromkeys(t["source"]))  # the sources in the order the nets came
    out = (t.assign(band=band, source=pd.Categorical(t["source"], categories=order))
           .groupby(["source", "band", "model"], observed=True, sort=True)["perplexity"]
           .agg(nodes="count", median="median").reset_index())
    out["source"] = out["source"].astype(str)
    return out.rename(columns={"band": "on-rate band", "median": "median perplexity"})


def matched_reading(matched: pd.DataFrame | None, a: str = "sigmoid", b: str = "ReLU",
                    min_nodes: int = 20) -> dict[str, str]:
    """From :func:`on_rate_matched`: ``ppl_matched`` — per source, in how many on-rate bands
    (with at least ``min_nodes`` nodes of both models) model ``a`` has the lower median
    perplexity than ``b`` — and ``ppl_matched_reading``: which model's nodes are the more
    selective at equal on-rate (lower in most bands overall; "neither" on a tie)."""
    counts = {}
    if matched is None or matched.empty:
        return {"ppl_matched": PENDING, "ppl_matched_reading": PENDING}
    for src, g in matched.groupby("source", sort=False):
        wide = g.pivot_table(index="on-rate band", columns="model",
                             values=["nodes", "median perplexity"], observed=True)
        if a not in wide["nodes"] or b not in wide["nodes"]:
            continue
        ok = (wide["nodes"][a] >= min_nodes) & (wide["nodes"][b] >= min_nodes)
        lower = (wide["median perplexity"][a] < wide["median perplexity"][b])[ok]
        if len(lower):
            counts[src] = (int(lower.sum()), len(lower))
    if not counts:
        return {"ppl_matched": PENDING, "ppl_matched_reading": PENDING}
    k, n = (sum(c[i] for c in counts.values()) for i in (0, 1))
    return {"ppl_matched": " and ".join(f"{k_} of {n_} on-rate bands on {source_label(s)}"
                                        for s, (k_, n_) in counts.items()),
            "ppl_matched_reading": (
                f"so at equal on-rate the {a} nodes are the more selective ones: their lower "
                "perplexity is not a matter of firing less often" if k > n / 2 else
                f"so at equal on-rate the {b} nodes are the more selective ones" if k < n / 2
                else "so at equal on-rate neither activation's nodes are the more selective "
                "ones")}


def probe_at(probes: pd.DataFrame | None, model: str, state: str, layer: int,
             source: str = "mnist") -> float | None:
    """Mean test accuracy (%) over seeds of one probe of :func:`probe_table`, or None."""
    if probes is None:
        return None
    rows = probes[(probes["source"] == source) & (probes["model"] == model)
                  & (probes["state"] == state) & (probes["layer"] == layer)]
    return float(rows["test acc (%)"].mean()) if len(rows) else None


def probe_numbers(probes: pd.DataFrame | None, s: dict, last: int,
                  cifar_source: str | None = None) -> dict[str, str]:
    """The linear-probe numbers chapter 8's prose quotes, as text. ``probes``:
    :func:`probe_table` of every net; ``s``: the chapter's settings; ``last``: the last
    hidden layer; ``cifar_source``: the CIFAR-10 copy probed, or None (MNIST only). Keys:
    ``probe_input`` (the pixels), ``probe_<model>_<state>_l1``/``_last``,
    ``probe_edges`` (fits whose L2 strength sits at an end of the grid tried),
    ``probe_cifar_sentence``, ``probe_summary`` (the last layers' spread on MNIST, and on
    CIFAR-10 whether ReLU's lead over the sigmoid exceeds four times the largest seed sd),
    ``probe_sd`` (seed sd of a trained layer's probe, range per source),
    ``probe_unconverged``, ``probe_converged``, ``probe_max_iter``."""
    def at(model: str, state: str, layer: int, source: str = "mnist") -> str:
        return as_text(probe_at(probes, model, state, layer, source), ".1f")

    out = {"probe_input": at("input", "input", 0)}
    for m in CHAPTER_MODELS:
        for state in ("trained", "untrained"):
            out[f"probe_{model_key(m)}_{state}_l1"] = at(m, state, 1)
            out[f"probe_{model_key(m)}_{state}_last"] = at(m, state, last)
    readable_summary = ""
    if cifar_source is not None:
        c = cifar_source
        out["probe_cifar_sentence"] = (
            f"On {source_label(c)}, the pixels give {at('input', 'input', 0, c)} %; untrained "
            f"ReLU layers go from {at('ReLU', 'untrained', 1, c)} % to "
            f"{at('ReLU', 'untrained', last, c)} %. Trained, layer 1 gives "
            f"{at('ReLU', 'trained', 1, c)} % with ReLU and {at('sigmoid', 'trained', 1, c)} % "
            f"with the sigmoid, and the last layer {at('ReLU BN', 'trained', last, c)} % with "
            f"ReLU and BN, {at('ReLU', 'trained', last, c)} % with ReLU and "
            f"{at('sigmoid', 'trained', last, c)} % with the sigmoid.")
        ends = {m: probe_at(probes, m, "trained", last, c) for m in CHAPTER_MODELS}
        sd = probes[(probes["source"] == c) & (probes["state"] == "trained")
                    & (probes["layer"] == last)].groupby("model")["test acc (%)"].std().max()
        ahead = None not in ends.values() and (
            min(ends["ReLU"], ends["ReLU BN"]) - ends["sigmoid"] > 4 * sd)
        readable_summary = (
            f"On {source_label(c)} the last trained layer is linearly readable to "
            + ", ".join(f"{as_text(v, '.1f')} % ({m})" for m, v in ends.items())
            + ("; the ReLU networks' last layers hold more linearly readable class information "
               "than the sigmoid's, by more than four times the largest seed-to-seed standard "
               "deviation of these probes" if ahead else "") + ".")
    else:
        out["probe_cifar_sentence"] = "(This profile probes MNIST networks only.)"
    mnist = [probe_at(probes, m, "trained", last) for m in CHAPTER_MODELS]
    out["probe_summary"] = PENDING if None in mnist else (
        f"On MNIST the three configurations' last trained layers end within "
        f"{max(mnist) - min(mnist):.1f} points of each other ({min(mnist):.1f} to "
        f"{max(mnist):.1f} %). " + readable_summary)
    out["probe_max_iter"] = str(s["probe_max_iter"])
    if probes is None:
        return out | {k: PENDING for k in ("probe_edges", "probe_sd", "probe_unconverged",
                                           "probe_converged")}
    grid_l2 = sorted(s["probe_l2"])  # how often the strength kept sits at an edge
    at_low, at_high = (int((probes["l2"] == v).sum()) for v in (grid_l2[0], grid_l2[-1]))
    out["probe_edges"] = (f"{at_low} of the {len(probes)} probes at the weakest strength "
                          f"tried ({grid_l2[0]:g}) and {at_high} at the strongest "
                          f"({grid_l2[-1]:g})")
    spread = probes[probes["state"] == "trained"].groupby(
        ["source", "model", "layer"])["test acc (%)"].std()
    out["probe_sd"] = "; ".join(f"{source_label(src)} {g.min():.2f} to {g.max():.2f}"
                                for src, g in spread.groupby(level="source"))
    keys = ["source", "state", "model", "layer"]
    total = probes.groupby(keys).size()
    stuck = probes[~probes["converged"]].groupby(keys).size()
    out["probe_unconverged"] = ", ".join(
        f"{source_label(src)} " + ("pixels" if st == "input" else f"{st} {m} layer {lay}")
        + f" ({n} of {total[(src, st, m, lay)]})" for (src, st, m, lay), n in stuck.items()
    ) or "none"
    out["probe_converged"] = f"{int(probes['converged'].sum())} of {len(probes)}"
    return out


def model_palette(names: Iterable[str]) -> dict[str, str]:
    """Model name -> its colour in the chapter's figures, for the ``names`` that have one."""
    return {n: MODEL_COLORS[n] for n in dict.fromkeys(names) if n in MODEL_COLORS}


def plot_perplexity(table: pd.DataFrame, title: str, n_classes: int = 10) -> plt.Figure:
    """Box plots of node perplexity per layer, one colour per model; rows = data source,
    columns = state (untrained, trained). Nodes never on are left out."""
    sources = list(dict.fromkeys(table["source"]))
    states = list(dict.fromkeys(table["state"]))
    fig, axes = plt.subplots(len(sources), len(states), figsize=(5.2 * len(states),
                                                                 3.6 * len(sources)),
                             sharey=True, squeeze=False)
    pal = model_palette(table["model"])
    for i, src in enumerate(sources):
        for j, state in enumerate(states):
            ax = axes[i][j]
            sub = table[(table["source"] == src) & (table["state"] == state)
                        & table["perplexity"].notna()]
            sns.boxplot(data=sub, x="layer", y="perplexity", hue="model", palette=pal, ax=ax,
                        fliersize=1.5, linewidth=0.8, hue_order=list(pal))
            ax.axhline(1, color="grey", ls=":", lw=1)
            ax.axhline(n_classes, color="grey", ls="--", lw=1)
            ax.set(title=f"{source_label(src)}, {state}", xlabel="hidden layer",
                   ylabel="node perplexity (classes)", ylim=(0.8, n_classes + 0.5))
            if (i, j) != (0, 0) and ax.get_legend():
                ax.get_legend().remove()
    axes[0][0].legend(title=None, fontsize=8, loc="lower left")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_probe_accuracy(table: pd.DataFrame, title: str) -> plt.Figure:
    """Linear-probe test accuracy against layer, one panel per data source, one colour per
    model, solid = trained, dashed = untrained (band: sd over seeds); dotted = the probe
    on the input pixels."""
    sources = list(dict.fromkeys(table["source"]))
    fig, axes = plt.subplots(1, len(sources), figsize=(6.5 * len(sources), 4), squeeze=False)
    for ax, src in zip(axes[0], sources):
        t = table[table["source"] == src]
        nets = t[t["model"] != "input"]
        pal = model_palette(nets["model"])
        sns.lineplot(data=nets, x="layer", y="test acc (%)", hue="model", style="state",
                     style_order=["trained", "untrained"], palette=pal, hue_order=list(pal),
                     markers=True, errorbar="sd", ax=ax)
        inp = t[t["model"] == "input"]["test acc (%)"]
        if len(inp):
            ax.axhline(inp.mean(), color="grey", ls=":", lw=1.2, label="input pixels")
        ax.set_xticks(sorted(nets["layer"].unique()))
        ax.set(title=source_label(src), xlabel="hidden layer",
               ylabel="probe test accuracy (%)")
        ax.legend(fontsize=8, loc="lower left", ncol=2)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


# --- command line: ``python -m helpers.class_information`` is helpers.training_dynamics.main

if __name__ == "__main__":
    from .training_dynamics import main

    raise SystemExit(main())
