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

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

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
    return out


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


SECTION3_TABLES = ("sigmoid", "relu", "medians", "sparsity", "accuracy")


def store_section3_tables(tables: Mapping[str, pd.DataFrame], profile: str,
                          settings: Mapping[str, object],
                          root: str | os.PathLike | None = None) -> list[Path]:
    """Write each table of :func:`section3_inputs` per dataset, as
    ``<dataset>_<table>.csv`` (atomically; a file whose content is unchanged is left
    alone), and ``settings`` (the seeds and thresholds they were computed with) to
    ``settings.json``. Returns the files written."""
    from ..grid.store import atomic_write

    folder = section3_tables_dir(profile, root)
    texts = {folder / f"{ds}_{name}.csv": part.to_csv(index=False)
             for name, table in tables.items() if name in SECTION3_TABLES
             for ds, part in table.groupby("dataset", sort=False)}
    texts[folder / "settings.json"] = json.dumps(dict(settings), indent=1, sort_keys=True)
    written = []
    for path, text in texts.items():
        if not (path.exists() and path.read_text() == text):
            atomic_write(path, lambda tmp, text=text: tmp.write_text(text))
            written.append(path)
    return written


def load_section3_tables(profile: str, dataset: str, label: str,
                         settings: Mapping[str, object],
                         root: str | os.PathLike | None = None) -> dict[str, pd.DataFrame]:
    """The stored tables of ``dataset`` (:func:`store_section3_tables`) computed on the data
    labelled ``label`` with ``settings``; ``{}`` when there are none, or when they came from
    another copy or other settings (a reader's own seeds or thresholds are never answered
    from tables computed with others)."""
    folder = section3_tables_dir(profile, root)
    path = folder / "settings.json"
    if not path.exists() or json.loads(path.read_text()) != json.loads(json.dumps(settings)):
        return {}
    found = {}
    for name in SECTION3_TABLES:
        path = folder / f"{dataset}_{name}.csv"
        if path.exists():
            table = pd.read_csv(path)
            if table.empty or set(table["data"]) != {label}:
                return {}
            found[name] = table
    return found


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

    from ..grid import DataSourceMismatch, get_spec, load_results
    from ..inspected_nets import section3_data, section3_networks
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
    nets, data, stored = {}, {}, {}
    settings = {"seeds": list(seeds), "eps": eps, "delta": delta, "min_active": min_active}
    for ds in datasets:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the JPEG-copy warning; the label says it
            d = section3_data(ds, profile, root=data_root)
        try:
            found = {}
            for activations, batch_norms in ((("sigmoid", "relu"), (False,)),
                                             (("relu",), (True,))):
                found |= {(ds, *k): n for k, n in section3_networks(
                    d, profile, activations=activations, batch_norms=batch_norms, seeds=seeds,
                    device=device, progress=progress, train=live).items()}
        except DataSourceMismatch:
            grid_label = next((r.label for r in results if r.dataset == ds and r.label), None)
            tables = (load_section3_tables(profile, ds, grid_label, settings) if grid_label
                      else {})
            if tables:  # the tables stored where the grid's copy was at hand
                stored[ds] = tables
                inputs.setdefault("labels", {})[ds] = grid_label
                notes.append(f"Section 3 nets, {d.label}: the grid trained them on "
                             f"{grid_label}, not on this copy; their tables stored on "
                             f"{grid_label} are read instead")
            else:
                notes.append(f"Section 3 nets, {d.label}: the grid trained them on another "
                             "copy of this dataset, so they wait here")
            continue
        except FileNotFoundError:
            notes.append(f"Section 3 nets, {d.label}: not all trained yet")
            continue
        nets |= found
        data[ds] = d
        # only data whose nets are read labels the dataset: where they wait, the grid's own
        # source (e.g. the JPEG copy its CIFAR-10 runs were trained on) names the results
        inputs.setdefault("labels", {})[ds] = d.label
        origins = sorted({n.origin for n in found.values()})
        notes.append(f"Section 3 nets, {d.label}: {len(found)} nets ({', '.join(origins)})")
    tables: dict[str, list[pd.DataFrame]] = {}
    if data:
        computed = section3_inputs(nets, data, eps=eps, delta=delta, min_active=min_active)
        if not live and settings == STORED_SETTINGS and _on_cpu(device):
            store_section3_tables(computed, profile, settings)
        tables = {name: [t] for name, t in computed.items()}
    for ds_tables in stored.values():
        for name, t in ds_tables.items():
            tables.setdefault(name, []).append(t)
    inputs.update({name: pd.concat(ts, ignore_index=True) for name, ts in tables.items()})
    return inputs, notes
