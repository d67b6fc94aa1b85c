"""Where the rules' inputs come from: the grid's tables and the Section 3 node tables.

:func:`gather_inputs` collects every input of :func:`~.scoreboard.evaluate_claims` for a
profile (the grid's runs, histories and per-layer table, the Section 3 nets summarised by
:func:`section3_inputs`), with a note on where each came from; in the ``quick`` profile it
computes what is missing, in ``paper`` it only reads committed results, so what is absent
leaves its claims pending.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

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
    nets, data = {}, {}
    for ds in datasets:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the JPEG-copy warning; the label says it
            d = section3_data(ds, profile, root=data_root)
        inputs.setdefault("labels", {})[ds] = d.label
        try:
            found = {}
            for activations, batch_norms in ((("sigmoid", "relu"), (False,)),
                                             (("relu",), (True,))):
                found |= {(ds, *k): n for k, n in section3_networks(
                    d, profile, activations=activations, batch_norms=batch_norms, seeds=seeds,
                    device=device, progress=progress, train=live).items()}
        except DataSourceMismatch:
            notes.append(f"Section 3 nets, {d.label}: the grid trained them on another copy "
                         "of this dataset, so they wait here")
            continue
        except FileNotFoundError:
            notes.append(f"Section 3 nets, {d.label}: not all trained yet")
            continue
        nets |= found
        data[ds] = d
        origins = sorted({n.origin for n in found.values()})
        notes.append(f"Section 3 nets, {d.label}: {len(found)} nets ({', '.join(origins)})")
    if data:
        inputs.update(section3_inputs(nets, data, eps=eps, delta=delta, min_active=min_active))
    return inputs, notes
