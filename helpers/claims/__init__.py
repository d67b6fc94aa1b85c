"""Every claim of Pretorius, Barnard & Davel (2019), judged by one seed-aware scheme.

A :class:`Claim` is one statement of the paper: its id, section and figure, the paper's
sentence quoted exactly, the quantity we measure, a rule in words (``rule``) and in code
(``code``: the function that computes it, named ``helpers.claims.<function>``), our value ±
standard error over seeds, the paper's value where it gives one, and a verdict. How a verdict
is reached (items that hold, fail or lie within seed noise: ``se_factor``, Student's t at 95 %
for the seeds, 4.30 standard errors for three) is told in :mod:`helpers.claims.judging`; the
inputs a rule reads, in :mod:`helpers.claims.views`.

Module map (everything below is importable from ``helpers.claims`` itself):

* :mod:`~helpers.claims.judging` — verdict names, ``SE_FACTOR``, ``se_factor``,
  ``t_critical``, ``judge``, ``Item``,
  ``verdict_of``, ``possible_verdicts``, ``Claim``, ``ClaimSpec``, ``Missing``,
  ``Incomplete``, ``each``: the judging core.
* :mod:`~helpers.claims.views` — ``Context`` and ``GridView``: lookups in the input tables
  that make a claim pending when what it needs is missing.
* :mod:`~helpers.claims.section2_rules` — the rules of Figs 1-2 and the grid (with
  ``FIT_THRESHOLD``, ``SIMILAR_PTS``, ``REFERENCE_MARGIN``).
* :mod:`~helpers.claims.section3_rules` — the rules of Figs 3-7 and Table 1 (with
  ``TABLE1_TOLERANCE``, ``MEAN_MEDIAN_TOLERANCE``, ``SHARED_SATURATION_MIN``).
* :mod:`~helpers.claims.catalogue` — ``SPECS``: every claim with its quote and rule.
* :mod:`~helpers.claims.scoreboard` — ``evaluate_claims``, ``claims_table``,
  ``summary_line``, ``noise_reading``, ``export_csv``, ``scoreboard_html``,
  ``status_table_markdown``...
* :mod:`~helpers.claims.inputs` — ``gather_inputs``, ``section3_inputs``: the inputs of a
  profile.

The names re-exported here are for reading. To change a setting, set it on the module that
reads it, e.g. ``helpers.claims.judging.SE_FACTOR = 3`` (chapter 7's exercise 7.1).
"""

from __future__ import annotations

from . import catalogue, inputs, judging, scoreboard, section2_rules, section3_rules, views
from .catalogue import (
    Q_BN_GENERALISES,
    Q_BN_SPARSITY,
    Q_CIFAR_RELU,
    Q_CIFAR_SIMILAR,
    Q_COMPARABLE,
    Q_FIG1,
    Q_FIG6_TRAINED,
    Q_OPTIMAL,
    Q_SIGMOID_BN,
    Q_SIGMOID_NOBN,
    Q_TABLE1,
    Q_WIDE,
    SPECS,
)
from .inputs import gather_inputs, grid_layer_inputs, section3_inputs
from .judging import (
    AGREES,
    CONTEXT,
    DISAGREES,
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    MIXED,
    NOT_TESTABLE,
    PARTLY_AGREES,
    PARTLY_DISAGREES,
    PENDING,
    SE_FACTOR,
    VERDICTS,
    WITHIN,
    Claim,
    ClaimSpec,
    Incomplete,
    Item,
    Missing,
    each,
    judge,
    mean_se,
    possible_verdicts,
    se_factor,
    t_critical,
    verdict_of,
)
from .scoreboard import (
    CHAPTERS,
    CSV_COLUMNS,
    FIGURE_ANCHORS,
    claims_csv_path,
    claims_frame,
    claims_table,
    departures,
    evaluate_claims,
    export_csv,
    figure_link,
    noise_reading,
    outcome_texts,
    scoreboard_html,
    status_table_markdown,
    summary_line,
    verdict_counts,
)
from .section2_rules import (
    FIG1_EARLY_EPOCHS,
    FIT_THRESHOLD,
    REFERENCE_MARGIN,
    SIMILAR_PTS,
    bn_improves_relu_everywhere,
    cifar_bn_deeper_better,
    cifar_deep_narrow_exception,
    cifar_deep_narrow_sigmoid_cannot_fit,
    cifar_depth_adds_a_little,
    cifar_nobn_deeper_worse,
    cifar_reference,
    cifar_relu_better_with_bn,
    cifar_relu_not_reliably_better_without_bn,
    cifar_similar_without_bn,
    every_other_net_fits,
    fig1_relu_validates_better,
    fig1_training_alike,
    fig2_relu_generally_better,
    mnist_reference,
    relu_benefits_more_from_bn,
)
from .section3_rules import (
    MEAN_MEDIAN_TOLERANCE,
    SHARED_SATURATION_MIN,
    TABLE1_TOLERANCE,
    bn_lowers_sparsity_whole_grid,
    fig3_last_layer_point_masses,
    fig3_layer2_highest_variance,
    fig3_layer2_in_deeper_nets,
    fig3_layer2_least_saturated,
    fig3_overlap_at_saturation,
    fig3_sigmoid_skewed,
    fig4_deeper_fewer_samples,
    fig4_deeper_specialised,
    fig4_relu_overlaps_less,
    fig5_trained_deep_layers_more,
    fig5_trained_medians_saturate,
    fig5_untrained_layer2_nearer_saturation,
    fig5_untrained_medians_near_half,
    fig5_untrained_overlap_grows,
    fig6_relu_mean_equals_median,
    fig6_trained_relu_deep_layers_specialise,
    fig6_trained_relu_early_layers_low,
    fig6_untrained_relu_medians_to_zero,
    fig6_untrained_relu_overlaps_less,
    fig7_cifar_looks_untrained,
    section3_trends_elsewhere,
)
from .views import DATASET_NAMES, INPUTS, Context, GridView

__all__ = [
    # judging
    "SE_FACTOR", "HOLDS", "FAILS", "WITHIN", "AGREES", "DISAGREES", "MIXED", "INCONCLUSIVE",
    "PARTLY_AGREES", "PARTLY_DISAGREES",
    "NOT_TESTABLE", "PENDING", "CONTEXT", "VERDICTS", "Missing", "Incomplete", "each",
    "possible_verdicts", "judge", "mean_se", "se_factor", "t_critical", "Item", "verdict_of",
    "Claim",
    "ClaimSpec",
    # views
    "INPUTS", "DATASET_NAMES", "Context", "GridView",
    # section2_rules
    "FIG1_EARLY_EPOCHS", "FIT_THRESHOLD", "SIMILAR_PTS", "REFERENCE_MARGIN", "fig1_training_alike",
    "fig1_relu_validates_better", "fig2_relu_generally_better", "cifar_relu_better_with_bn",
    "cifar_relu_not_reliably_better_without_bn", "cifar_nobn_deeper_worse",
    "cifar_similar_without_bn", "cifar_deep_narrow_exception",
    "cifar_deep_narrow_sigmoid_cannot_fit", "cifar_bn_deeper_better",
    "cifar_depth_adds_a_little", "every_other_net_fits", "relu_benefits_more_from_bn",
    "bn_improves_relu_everywhere", "mnist_reference", "cifar_reference",
    # section3_rules
    "TABLE1_TOLERANCE", "MEAN_MEDIAN_TOLERANCE", "SHARED_SATURATION_MIN",
    "fig3_sigmoid_skewed", "fig3_layer2_least_saturated", "fig3_layer2_highest_variance",
    "fig3_last_layer_point_masses", "fig3_overlap_at_saturation", "fig4_relu_overlaps_less",
    "fig4_deeper_fewer_samples", "fig4_deeper_specialised", "fig5_untrained_medians_near_half",
    "fig5_untrained_layer2_nearer_saturation", "fig5_untrained_overlap_grows",
    "fig5_trained_medians_saturate", "fig5_trained_deep_layers_more",
    "fig6_relu_mean_equals_median", "fig6_untrained_relu_medians_to_zero",
    "fig6_untrained_relu_overlaps_less", "fig6_trained_relu_early_layers_low",
    "fig6_trained_relu_deep_layers_specialise", "fig7_cifar_looks_untrained",
    "fig3_layer2_in_deeper_nets", "section3_trends_elsewhere", "bn_lowers_sparsity_whole_grid",
    # catalogue
    "Q_FIG1", "Q_WIDE", "Q_COMPARABLE", "Q_SIGMOID_BN", "Q_SIGMOID_NOBN", "Q_CIFAR_RELU",
    "Q_CIFAR_SIMILAR", "Q_OPTIMAL", "Q_BN_GENERALISES", "Q_TABLE1", "Q_BN_SPARSITY",
    "Q_FIG6_TRAINED", "SPECS",
    # scoreboard
    "CSV_COLUMNS", "CHAPTERS", "FIGURE_ANCHORS", "evaluate_claims", "claims_frame", "departures",
    "claims_table", "outcome_texts", "verdict_counts", "summary_line", "claims_csv_path",
    "export_csv",
    "figure_link", "noise_reading", "scoreboard_html", "status_table_markdown",
    # inputs
    "section3_inputs", "gather_inputs", "grid_layer_inputs",
    # the submodules
    "catalogue", "inputs", "judging", "scoreboard", "section2_rules", "section3_rules", "views",
]
