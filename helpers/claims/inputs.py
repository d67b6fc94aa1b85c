"""Where the rules' inputs come from: the grid's tables and the Section 3 node tables.

:func:`gather_inputs` collects every input of :func:`~.scoreboard.evaluate_claims` for a
profile (the grid's runs, histories and per-layer table, the Section 3 nets summarised by
:func:`section3_inputs`), with a note on where each came from; in the ``quick`` profile it
computes what is missing, in ``paper`` it only reads committed results, so what is absent
leaves its claims pending.

In ``paper`` the Section 3 tables of each dataset are also stored
(:func:`store_section3_tables`, ``data/results/paper/section3/``, committed): a machine that
has another copy of a dataset than the one the grid trained on (genuine CIFAR-10 against the
committed JPEG-copy grid, on Colab or the site's build machine) cannot inspect those nets,
and reads their stored tables instead (:func:`load_section3_tables`), labelled with the copy
they were computed on.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..stored_tables import TWO_COPIES, load_tables, store_tables
from .views import DATASET_NAMES


def section3_inputs(nets: Mapping[tuple, object], datasets: Mapping[str, object],
                    eps: float = 0.05, delta: float = 0.5,
                    min_active: float = 0.5) -> dict[str, pd.DataFrame]:
    """The Section-3 input tables from ``nets`` keyed ``(dataset, activation, batch_norm,
    seed)`` (as chapter 6 builds them) and the :class:`helpers.data.Dataset` of each name."""
    from ..activation_distributions import relu_layer_summary, sigmoid_layer_summary
    from ..class_medians import median_layer_summary, sparsity_summary
    from ..inspected_nets import accuracy_table, summarise_nets

    def pick(ds: str, act: str | None = None, bn: bool | None = None) -> list:
        return [n for (d, a, b, _), n in nets.items() if d == ds
                and (act is None or a == act) and (bn is None or b == bn)]

    out: dict[str, pd.DataFrame] = {}
    if "mnist" in datasets:
        m = datasets["mnist"]
        out["sigmoid"] = summarise_nets(pick("mnist", "sigmoid", False), m,
                                        sigmoid_layer_summary, eps=eps)
        out["relu"] = summarise_nets(pick("mnist", "relu", False), m, relu_layer_summary,
                                     min_active=min_active)
    out["medians"] = pd.concat([summarise_nets(pick(ds, bn=False), data, median_layer_summary,
                                               delta=delta, eps=eps)
                                for ds, data in datasets.items()], ignore_index=True)
    out["sparsity"] = pd.concat([summarise_nets(pick(ds, "relu"), data, sparsity_summary)
                                 for ds, data in datasets.items()], ignore_index=True)
    out["accuracy"] = accuracy_table(dict(nets))
    out["node_medians"] = node_medians_table(nets, datasets)
    return out


def node_medians_table(nets: Mapping[tuple, object], datasets: Mapping[str, object],
                       kept: Sequence[str] = TWO_COPIES) -> pd.DataFrame:
    """Fig 7's y-values as a long table (dataset, data, source, activation, seed, class,
    node, median to 4 decimals): the class medians at every node of the trained sigmoid and
    ReLU nets without BN of the first seed, for the datasets in ``kept`` (those that exist
    here in two copies, so that a machine with the other copy can draw Fig 7)."""
    from ..class_medians import net_medians

    first = {}  # dataset -> its first seed
    for ds, _, _, seed in nets:
        first[ds] = min(seed, first.get(ds, seed))
    frames = []
    for (ds, act, bn, seed), net in nets.items():
        if ds not in kept or ds not in datasets or bn or seed != first[ds]:
            continue
        med = net_medians(net, datasets[ds]).numpy()
        n_classes, n_nodes = med.shape
        frames.append(pd.DataFrame({
            "dataset": ds, "data": datasets[ds].label, "source": datasets[ds].source,
            "activation": act, "seed": seed,
            "class": [c for c in range(n_classes) for _ in range(n_nodes)],
            "node": list(range(1, n_nodes + 1)) * n_classes,
            "median": med.reshape(-1).round(4)}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["dataset", "data", "source", "activation", "seed", "class", "node", "median"])


def node_medians_of(table: pd.DataFrame, dataset: str, activation: str, seed: int):
    """``[classes, nodes]`` tensor of :func:`node_medians_table`'s rows for one net (what
    :func:`helpers.class_medians.net_medians` returns); ``None`` where it has none."""
    import torch

    rows = table[(table["dataset"] == dataset) & (table["activation"] == activation)
                 & (table["seed"] == seed)]
    if rows.empty:
        return None
    wide = rows.pivot(index="class", columns="node", values="median").sort_index()
    return torch.tensor(wide.sort_index(axis=1).to_numpy(dtype="float32"))


# the settings whose tables are stored (a chapter's defaults; a reader's own seeds or
# thresholds are computed, never stored); CPU only, so the committed floats do not churn
STORED_SETTINGS = {"seeds": [0, 1, 2], "eps": 0.05, "delta": 0.5, "min_active": 0.5}


def _on_cpu(device: str | None) -> bool:
    from ..models import default_device

    return (device or default_device()) == "cpu"


def section3_tables_dir(profile: str, root: str | os.PathLike | None = None) -> Path:
    """``data/results/<profile>/section3/``: the stored Section 3 tables."""
    from .scoreboard import claims_csv_path

    return claims_csv_path(profile, root).parent / "section3"


SECTION3_TABLES = ("sigmoid", "relu", "medians", "sparsity", "accuracy", "node_medians")
COMPRESSED_TABLES = ("node_medians",)  # 16 000 rows a dataset (gzip without a timestamp)


def store_section3_tables(tables: Mapping[str, pd.DataFrame], profile: str,
                          settings: Mapping[str, object],
                          root: str | os.PathLike | None = None) -> list[Path]:
    """Write each table of :func:`section3_inputs` per dataset, as
    ``<dataset>_<table>.csv`` (atomically; a file whose content is unchanged is left
    alone), and ``settings`` (the seeds and thresholds they were computed with) to
    ``settings.json``. Returns the files written."""
    return store_tables(section3_tables_dir(profile, root),
                        {n: t for n, t in tables.items() if n in SECTION3_TABLES}, settings,
                        COMPRESSED_TABLES)


def load_section3_tables(profile: str, dataset: str, label: str,
                         settings: Mapping[str, object],
                         root: str | os.PathLike | None = None) -> dict[str, pd.DataFrame]:
    """The stored tables of ``dataset`` (:func:`store_section3_tables`) computed on the data
    labelled ``label`` with ``settings``; ``{}`` when there are none, or when they came from
    another copy or other settings (a reader's own seeds or thresholds are never answered
    from tables computed with others)."""
    return load_tables(section3_tables_dir(profile, root), dataset, SECTION3_TABLES, settings,
                       "data", label, COMPRESSED_TABLES)


def grid_layer_inputs(profile: str, datasets: Sequence[str] = ("mnist", "cifar10")
                      ) -> dict[str, object]:
    """``grid_layers`` (the grid's per-layer tables of ``datasets``, as far as they exist)
    and ``layout`` (the spec's depths, widths and seeds) for :func:`evaluate_claims`; never
    trains, and ``{}`` where no run exists yet (the rules that read them are pending)."""
    from ..grid import get_spec, load_results

    spec = get_spec(profile)
    tables = [load_results(profile, ds, missing_ok=True).layers for ds in datasets]
    tables = [t for t in tables if len(t)]
    if not tables:
        return {}
    return {"grid_layers": pd.concat(tables, ignore_index=True),
            "layout": dict(depths=spec.depths, widths=spec.widths, seeds=spec.seeds)}


def gather_inputs(profile: str, seeds: Sequence[int] = (0, 1, 2),
                  datasets: Sequence[str] = ("mnist", "cifar10"), device: str | None = None,
                  eps: float = 0.05, delta: float = 0.5, min_active: float = 0.5,
                  data_root: str | os.PathLike | None = None,
                  progress: bool = False) -> tuple[dict, list[str]]:
    """Every input of :func:`evaluate_claims` for ``profile``, and a note on where each
    came from. ``quick`` runs what is missing (the quick grid, the small Section-3 nets;
    both cached); ``paper`` only reads committed results and never trains: a missing grid
    or missing Section-3 checkpoints leave their claims pending."""
    import warnings

    from ..grid import get_spec, load_results
    from ..inspected_nets import section3_data
    from ..learning_curves import grid_results

    live = profile == "quick"
    spec = get_spec(profile)
    inputs: dict = {"eps": eps, "layout": dict(depths=spec.depths, widths=spec.widths,
                                               seeds=spec.seeds, patience=spec.patience)}
    notes, results = [], []
    for ds in datasets:
        try:
            r = (grid_results(profile, ds, device=device, progress=progress) if live
                 else load_results(profile, ds))
        except FileNotFoundError:
            notes.append(f"grid, {DATASET_NAMES[ds]}: no results yet")
            continue
        results.append(r)
        state = "complete" if r.complete else "incomplete"
        notes.append(f"grid, {r.label or DATASET_NAMES[ds]}: {len(r.runs)} of "
                     f"{spec.n_final()} final runs ({state})")
    if results:
        inputs["runs"] = pd.concat([r.runs for r in results], ignore_index=True)
        inputs["histories"] = pd.concat([r.histories for r in results], ignore_index=True)
        layers = [r.layers for r in results if len(r.layers)]
        if layers:
            inputs["grid_layers"] = pd.concat(layers, ignore_index=True)
    settings = {"seeds": list(seeds), "eps": eps, "delta": delta, "min_active": min_active}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the JPEG-copy warning; the label says it
        data = {ds: section3_data(ds, profile, root=data_root) for ds in datasets}
    sources = section3_sources(data, profile, settings, device=device, progress=progress)
    notes += sources.notes
    if sources.labels:
        inputs["labels"] = dict(sources.labels)
    tables = section3_tables(sources, profile, settings, device=device)
    tables.pop("node_medians", None)  # Fig 7's points: drawn, not judged
    inputs.update(tables)
    return inputs, notes


@dataclass
class Section3Sources:
    """Where each dataset's Section 3 tables come from: ``nets`` (keyed ``(dataset,
    activation, batch_norm, seed)``) read on ``data``, or ``stored`` tables (per dataset,
    per table) where the nets were trained on another copy of the dataset; ``labels`` names
    each dataset after the copy its numbers were computed on; ``notes``, one line each."""

    nets: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)
    stored: dict = field(default_factory=dict)
    labels: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)


def section3_sources(datasets: Mapping[str, object], profile: str,
                     settings: Mapping[str, object], device: str | None = None,
                     progress: bool = False) -> Section3Sources:
    """The 4-layer nets of each dataset in ``datasets`` (name -> the data at hand): the
    sigmoid and ReLU nets without BN and the ReLU nets with BN, for ``settings["seeds"]``.
    ``quick`` trains what is missing; ``paper`` reads the grid's checkpoints only, and
    where the grid trained them on another copy of the dataset (the JPEG copy of CIFAR-10,
    on a machine with the genuine one) reads their stored tables instead
    (:func:`load_section3_tables`, for the same settings only); otherwise they wait."""
    from ..grid import DataSourceMismatch, load_results
    from ..inspected_nets import section3_networks

    out, live = Section3Sources(), profile == "quick"
    for ds, d in datasets.items():
        try:
            found = {}
            for activations, batch_norms in ((("sigmoid", "relu"), (False,)),
                                             (("relu",), (True,))):
                found |= {(ds, *k): n for k, n in section3_networks(
                    d, profile, activations=activations, batch_norms=batch_norms,
                    seeds=settings["seeds"], device=device, progress=progress,
                    train=live).items()}
        except DataSourceMismatch:
            grid_label = load_results(profile, ds, missing_ok=True).label
            tables = (load_section3_tables(profile, ds, grid_label, settings) if grid_label
                      else {})
            if tables:  # the tables stored where the grid's copy was at hand
                out.stored[ds] = tables
                out.labels[ds] = grid_label
                out.notes.append(f"Section 3 nets, {d.label}: the grid trained them on "
                                 f"{grid_label}, not on this copy; their tables stored on "
                                 f"{grid_label} are read instead")
            else:
                out.notes.append(f"Section 3 nets, {d.label}: the grid trained them on "
                                 "another copy of this dataset, so they wait here")
            continue
        except FileNotFoundError:
            out.notes.append(f"Section 3 nets, {d.label}: not all trained yet")
            continue
        out.nets |= found
        out.data[ds] = d
        # only data whose nets are read labels the dataset: where they wait, the grid's own
        # source (e.g. the JPEG copy its CIFAR-10 runs were trained on) names the results
        out.labels[ds] = d.label
        origins = sorted({n.origin for n in found.values()})
        out.notes.append(f"Section 3 nets, {d.label}: {len(found)} nets ({', '.join(origins)})")
    return out


def section3_tables(sources: Section3Sources, profile: str, settings: Mapping[str, object],
                    device: str | None = None) -> dict[str, pd.DataFrame]:
    """:func:`section3_inputs` of the nets ``sources`` reads, beside the tables it found
    stored, one table per name over all datasets. In ``paper``, with the chapters' default
    settings on the CPU, the computed ones are stored too (:func:`store_section3_tables`)."""
    tables: dict[str, list[pd.DataFrame]] = {}
    if sources.data:
        computed = section3_inputs(sources.nets, sources.data, eps=settings["eps"],
                                   delta=settings["delta"], min_active=settings["min_active"])
        if profile != "quick" and dict(settings) == STORED_SETTINGS and _on_cpu(device):
            store_section3_tables(computed, profile, settings)
        tables = {name: [t] for name, t in computed.items()}
    for ds_tables in sources.stored.values():
        for name, t in ds_tables.items():
            tables.setdefault(name, []).append(t)
    return {name: pd.concat(ts, ignore_index=True) for name, ts in tables.items()}
