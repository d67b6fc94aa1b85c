"""The catalogue of claims: every statement of the paper that the book judges, in order.

:data:`SPECS` lists one :class:`~.judging.ClaimSpec` per claim: its id, section, figure and
chapter, the paper's sentence quoted exactly (fragments of a sentence broken by a page or a
figure are joined by `` […] ``), the quantity we measure, the rule in words and the rule in
code (a function of :mod:`~.section2_rules` or :mod:`~.section3_rules`); rows without a rule
are *not testable here*, *context* or interpretations. The ``Q_*`` constants are quotes that
several claims share. Judging and tabulating the list is :mod:`~.scoreboard`'s job.
"""

from __future__ import annotations

from collections.abc import Sequence

from . import section2_rules as s2
from . import section3_rules as s3
from .judging import CONTEXT, ClaimSpec
from .section2_rules import (
    _best_is_wide_relu_bn,
    _fig2_wide_more_similar,
    _sigmoid_bn_deeper_better,
    _sigmoid_bn_gain_grows,
    _sigmoid_nobn_deeper_worse,
    _wide_comparable,
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
    _bn_generalises,
    _bn_lowers_sparsity,
    _table1_trained,
    _table1_untrained,
    _training_sparsifies,
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
from .views import DATASET_NAMES

Q_FIG1 = ("We observe that for different architecture configurations, the training curve of "
          "the ReLU and sigmoid networks are similar while the validation curves of the ReLU "
          "networks show better performance overall.")
Q_WIDE = ("However, when the network is wide enough, the performances of sigmoid and ReLU "
          "networks become more similar when not using batch normalization.")
Q_COMPARABLE = ("We observed that when networks are wide enough, sigmoid networks have "
                "comparable generalization performance to ReLU networks.")
Q_SIGMOID_BN = ("An interesting observation is that when the sigmoid network has a constant "
                "width of 200 nodes, the application of batch normalization results in an "
                "increase in performance with an increase in […] depth.")
Q_SIGMOID_NOBN = ("When not using batch normalization, the generalization performance of the "
                  "sigmoid networks decreases with an increase in depth.")
Q_CIFAR_RELU = ("In the case of CIFAR10 from Figure 2(b), the ReLU networks only reliably "
                "generalize better than the sigmoid networks when trained with batch "
                "normalization.")
Q_CIFAR_SIMILAR = ("The sigmoid networks perform similarly to ReLU networks in all "
                   "configurations where batch normalization is not used, except for the 6- "
                   "and 8-layer networks that are 200 nodes wide.")
Q_OPTIMAL = ("In summary, then, we observe that optimal generalization is obtained when batch "
             "normalization is used to train wide ReLU networks; for CIFAR10, network depth "
             "provides a small additional benefit.")
Q_BN_GENERALISES = ("We know however from Figure 2(a) and 2(b) that the use of batch "
                    "normalization causes the generalization performance of the ReLU networks "
                    "to increase.")
Q_TABLE1 = ("Table 1. Layer sparsity for networks trained with ReLU activations without and "
            "with batch normalization.")
Q_BN_SPARSITY = ("Networks that are trained with batch normalization have fewer sparse "
                 "interactions per layer, meaning that nodes are (on average) active for more "
                 "samples of a class.")
Q_FIG6_TRAINED = ("From Figure 6 it is observed that when a ReLU network is sufficiently well "
                  "trained, the activation distributions in earlier layers have lower "
                  "activation values and class information is suppressed with overlap of "
                  "activation distributions of classes.")


def _fmt_paper(values: Sequence[float]) -> str:
    return " / ".join(f"{v:.2f}" for v in values)


def _specs() -> list[ClaimSpec]:
    from ..class_medians import PAPER_TABLE1_SPARSITY as T1

    s = [
        ClaimSpec("fig1-training-alike", "2", "Fig 1", 4, Q_FIG1,
                  "mean |ReLU − sigmoid| training accuracy over all epochs and over the "
                  "first epochs, MNIST, narrow width, per depth × BN panel",
                  lambda: f"in every panel the curves differ by less than "
                  f"{s2.SIMILAR_PTS['mnist']} points on average, over the whole run and over "
                  f"epochs 1-{s2.FIG1_EARLY_EPOCHS}", fig1_training_alike),
        ClaimSpec("fig1-relu-validates-better", "2", "Fig 1", 4, Q_FIG1,
                  "ReLU − sigmoid best validation accuracy, mean over the 8 panels",
                  "> 0", fig1_relu_validates_better),
        ClaimSpec("fig2-relu-generally-better", "2", "Fig 2", 4,
                  "From this figure we see that the ReLU networks generally perform better "
                  "than the sigmoid networks on the evaluation set.",
                  "share of the configurations (both datasets) in which ReLU's test accuracy "
                  "beats sigmoid's, per seed", "> 50 %", fig2_relu_generally_better),
    ]
    for ds in ("mnist", "cifar10"):
        name = DATASET_NAMES[ds]
        s += [
            ClaimSpec(f"fig2-wide-more-similar-{ds}", "2", "Fig 2", 4, Q_WIDE,
                      f"{name}, no BN: mean |ReLU − sigmoid| test accuracy at the narrow "
                      "width minus at the wide width", "> 0 (the gap shrinks with width)",
                      _fig2_wide_more_similar(ds)),
            ClaimSpec(f"conclusion-wide-comparable-{ds}", "4 (conclusion)", "Fig 2", 4,
                      Q_COMPARABLE,
                      f"{name}: ReLU − sigmoid test accuracy in every wide configuration "
                      "(the conclusion drops the 'without batch normalization' of Section 2, "
                      "so BN nets count too)",
                      lambda ds=ds: f"within ±{s2.SIMILAR_PTS[ds]} points in every one",
                      _wide_comparable(ds)),
            ClaimSpec(f"fig2-sigmoid-bn-deeper-better-{ds}", "2", "Fig 2", 4, Q_SIGMOID_BN,
                      f"{name}: slope of sigmoid, narrow, BN test accuracy against depth",
                      "> 0", _sigmoid_bn_deeper_better(ds)),
            ClaimSpec(f"fig2-sigmoid-bn-gain-grows-{ds}", "2", "Fig 2", 4, Q_SIGMOID_BN,
                      f"{name}: the sentence's second reading, that what BN adds grows with "
                      "depth: slope of sigmoid, narrow, BN minus no-BN test accuracy against "
                      "depth (the first reading's slope minus the no-BN slope of "
                      f"fig2-sigmoid-nobn-deeper-worse-{ds}: not independent of it)", "> 0",
                      _sigmoid_bn_gain_grows(ds)),
            ClaimSpec(f"fig2-sigmoid-nobn-deeper-worse-{ds}", "2", "Fig 2", 4, Q_SIGMOID_NOBN,
                      f"{name}: slope of sigmoid, no BN test accuracy against depth, at each "
                      "width", "< 0 at both widths", _sigmoid_nobn_deeper_worse(ds)),
        ]
    s += [
        ClaimSpec("cifar-relu-better-with-bn", "2", "Fig 2(b)", 4, Q_CIFAR_RELU,
                  "CIFAR-10 with BN: ReLU − sigmoid test accuracy per configuration",
                  "> 0 in every configuration (\"reliably\")", cifar_relu_better_with_bn),
        ClaimSpec("cifar-relu-not-reliably-better-without-bn", "2", "Fig 2(b)", 4,
                  Q_CIFAR_RELU,
                  "CIFAR-10 without BN: ReLU − sigmoid test accuracy per configuration",
                  lambda: f"agrees when ReLU's lead is clearly below "
                  f"{s2.SIMILAR_PTS['cifar10']:g} pt (similar, or sigmoid ahead) in some "
                  "configuration; disagrees when "
                  "it is clearly above in all", cifar_relu_not_reliably_better_without_bn,
                  how="any"),
        ClaimSpec("cifar-nobn-deeper-worse", "2", "Fig 2(b)", 4,
                  "When not trained with batch normalization, the ReLU and sigmoid networks "
                  "generalize less well with an increase in depth.",
                  "CIFAR-10 without BN: slope of test accuracy against depth, per activation "
                  "and width", "< 0 for both activations at both widths",
                  cifar_nobn_deeper_worse),
        ClaimSpec("cifar-similar-without-bn", "2", "Fig 2(b)", 4, Q_CIFAR_SIMILAR,
                  "CIFAR-10 without BN, all configurations but 6/8 layers × narrow: ReLU − "
                  "sigmoid test accuracy",
                  lambda: f"within ±{s2.SIMILAR_PTS['cifar10']} points in every "
                  "configuration",
                  cifar_similar_without_bn),
        ClaimSpec("cifar-deep-narrow-exception", "2", "Fig 2(b)", 4,
                  Q_CIFAR_SIMILAR + " The sigmoid networks generalize relatively poorly "
                  "with these two configurations compared to the other configurations.",
                  "CIFAR-10 without BN, 6 and 8 layers × narrow: ReLU − sigmoid test "
                  "accuracy, alone and minus its mean over the shallower configurations of "
                  "the same width without BN",
                  lambda: f"> {s2.SIMILAR_PTS['cifar10']} points (not similar) and > 0 "
                  "(worse than the shallower ones), in both", cifar_deep_narrow_exception),
        ClaimSpec("cifar-deep-narrow-sigmoid-cannot-fit", "2", "Fig 2(b)", 4,
                  "This poor generalization could be attributed to the vanishing gradient "
                  "problem since these two network architectures struggle to fit the training "
                  "set.", "CIFAR-10 sigmoid, no BN, 6 and 8 layers × narrow: training "
                  "accuracy at the last epoch every compared run reached, minus the mean of "
                  "the shallower sigmoid nets of that width at that epoch (no CIFAR-10 net "
                  "reaches the fit threshold, so an absolute test would hold at every depth; "
                  "the best epoch of each run would reward the nets early stopping let train "
                  "longer)",
                  "< 0 in both",
                  cifar_deep_narrow_sigmoid_cannot_fit),
        ClaimSpec("cifar-bn-deeper-better", "2", "Fig 2(b)", 4,
                  "In contrast, we see a general increase in evaluation accuracy when "
                  "increasing the number of hidden layers while training with batch "
                  "normalization.", "CIFAR-10 with BN: slope of test accuracy against depth, "
                  "per activation and width", "> 0 for both activations at both widths",
                  cifar_bn_deeper_better),
    ]
    for ds in ("mnist", "cifar10"):
        s.append(ClaimSpec(
            f"best-is-wide-relu-bn-{ds}", "2", "Fig 2", 4, Q_OPTIMAL,
            f"{DATASET_NAMES[ds]}: test accuracy of the best wide ReLU BN configuration "
            "minus the best other configuration (both chosen by mean validation accuracy over "
                      "seeds)", "> 0",
            _best_is_wide_relu_bn(ds)))
    s += [
        ClaimSpec("cifar-depth-adds-a-little", "2", "Fig 2(b)", 4, Q_OPTIMAL,
                  "CIFAR-10, wide ReLU BN: slope of test accuracy against depth",
                  "> 0 (its size is reported, not judged)", cifar_depth_adds_a_little),
        ClaimSpec("every-other-net-fits", "2", "Fig 2", 4,
                  "In contrast to [2] we cannot ascribe these benefits to the vanishing "
                  "gradients problem, since all our networks, apart from the 6- and 8-layer "
                  "sigmoid networks from Figure 2(b), can train to virtually perfect "
                  "classification of the training set.",
                  "best training accuracy of any epoch, every configuration except CIFAR-10 "
                  "sigmoid, no BN, 6/8 layers × narrow",
                  lambda: f"> {s2.FIT_THRESHOLD} % in every one",
                  every_other_net_fits),
        ClaimSpec("relu-benefits-more-from-bn", "4 (conclusion)", "Fig 2", 4,
                  "The ReLU networks benefit more from the use of batch normalization than "
                  "networks trained with sigmoid activations.",
                  "per dataset and width: mean over depth of (ReLU BN − ReLU) − (sigmoid BN "
                  "− sigmoid) test accuracy", "> 0 on both datasets, at both widths",
                  relu_benefits_more_from_bn),
        ClaimSpec("bn-improves-relu-whole-grid", "3", "Fig 2", 4, Q_BN_GENERALISES,
                  "ReLU BN − ReLU test accuracy in every depth × width × dataset of the grid "
                  "(not only the 4-layer nets of Table 1)", "> 0 in every configuration",
                  bn_improves_relu_everywhere),
        ClaimSpec("mnist-reference-98.4", "2", "text", 4,
                  "On the MNIST dataset, similar architectures reach a test accuracy of 98.4%,",
                  "test accuracy of our best MNIST configuration (chosen by mean validation "
                  "accuracy over seeds)",
                  lambda: f"> 98.4 − {s2.REFERENCE_MARGIN} = {98.4 - s2.REFERENCE_MARGIN:.1f} %",
                  mnist_reference, paper="98.4 %"),
        ClaimSpec("cifar-reference-56.84", "2", "text", 4,
                  "while much larger networks than those shown in this paper reach 56.84% on "
                  "the CIFAR10 dataset.",
                  "test accuracy of our best CIFAR-10 configuration (chosen by mean "
                  "validation accuracy over seeds)",
                  "none: the paper's number is for much larger networks (context only)",
                  cifar_reference, paper="56.84 % (much larger networks)", kind="context",
                  fixed=CONTEXT),
        # ------------------------------------------------------------------ Section 3
        ClaimSpec("fig3-sigmoid-skewed-to-0-1", "3", "Fig 3", 5,
                  "We can see that the activation distributions are highly non-uniform and "
                  "are skewed towards the 0.0 and 1.0 saturation points.",
                  "trained sigmoid, MNIST: share of outputs within eps of 0 or 1, per layer",
                  "> 2·eps (what a uniform distribution on [0, 1] would give) in every layer",
                  fig3_sigmoid_skewed),
        ClaimSpec("fig3-layer2-least-saturated", "3", "Fig 3", 5,
                  "Interestingly the outputs of the second hidden layer seems to be less "
                  "saturated with higher variance.",
                  "trained sigmoid: saturated share of layer 2 minus the least saturated "
                  "other layer", "< 0", fig3_layer2_least_saturated),
        ClaimSpec("fig3-layer2-highest-variance", "3", "Fig 3", 5,
                  "Interestingly the outputs of the second hidden layer seems to be less "
                  "saturated with higher variance.",
                  "trained sigmoid: mean within-class std of layer 2 minus the highest other "
                  "layer", "> 0", fig3_layer2_highest_variance),
        ClaimSpec("fig3-layer2-in-deeper-nets", "3", "Fig 3", 5,
                  "(We observe this phenomenon at the second layer for all deeper networks as "
                  "well.)",
                  "trained sigmoid, MNIST, every grid net deeper than 4 layers (the grid's "
                  "per-layer table; outputs within 0.01 of 0 or 1): saturated share of layer 2 "
                  "minus the least saturated other layer. The grid records no within-class "
                  "std, so only the saturation half is judged", "< 0 in every net",
                  fig3_layer2_in_deeper_nets),
        ClaimSpec("fig3-last-layer-point-masses", "3", "Fig 3", 5,
                  "These distributions are heavily skewed towards the saturation points, with "
                  "some distributions almost being point distributions with very low "
                  "variance.",
                  "trained sigmoid: share of class distributions with std < 0.02 (last minus "
                  "first layer), and the last layer's share of outputs within eps of 0 or 1",
                  lambda: f"the first > 0 (more point-like), the second > "
                  f"{s3.HEAVILY_SATURATED:.0f} % (\"heavily skewed\": most outputs saturated)",
                  fig3_last_layer_point_masses),
        ClaimSpec("fig3-separated-classes-overlap-at-0-1", "3", "Fig 3", 5,
                  "We observe that when class information is separated, activation "
                  "distributions still overlap each other near the saturation points.",
                  "trained sigmoid: among nodes whose class medians span ≥ 0.5, the share "
                  "where two or more classes have their median within eps of the same "
                  "saturation point (mean over layers)",
                  lambda: f"> {s3.SHARED_SATURATION_MIN:.0f} %",
                  fig3_overlap_at_saturation),
        ClaimSpec("fig4-relu-overlaps-less", "3", "Fig 4", 5,
                  "In the positive domain, the activation distributions are not saturated "
                  "and do not overlap as heavily for different classes such as the output of "
                  "nodes in Figure 3.",
                  "trained, MNIST: overlap of class medians (chapter 6's metric) in the "
                  "positive domain (nodes where some class median is > 0), mean over layers, "
                  "ReLU minus sigmoid", "< 0", fig4_relu_overlaps_less),
        ClaimSpec("fig4-deeper-nodes-fewer-samples", "3", "Fig 4", 5,
                  "Not only do the nodes in deeper layers become more specialized towards one "
                  "class, they activate for fewer samples than the nodes in earlier layers.",
                  "trained ReLU: active share of outputs, last minus first layer", "< 0",
                  fig4_deeper_fewer_samples),
        ClaimSpec("fig4-deeper-nodes-specialised", "3", "Fig 4", 5,
                  "Not only do the nodes in deeper layers become more specialized towards one "
                  "class, they activate for fewer samples than the nodes in earlier layers.",
                  "trained ReLU: classes a node responds to, and share of one-class nodes, "
                  "last minus first layer", "fewer classes (< 0) and more one-class nodes "
                  "(> 0)", fig4_deeper_specialised),
        ClaimSpec("section3-4-layer-nets-typical", "3", "text", 5,
                  "We choose to show results only for the 4-layer networks as they have "
                  "moderate depth and similar trends are observed in deeper and wider "
                  "networks.",
                  "the Figs 3-4 trends the grid's per-layer table records, in every MNIST net "
                  "deeper or wider than 4×200 (no BN): sigmoid layer 2 the least saturated "
                  "(fig3-layer2-least-saturated); ReLU's last layer sparser than its first "
                  "(fig4-deeper-nodes-fewer-samples) and its nodes on for fewer classes, by "
                  "node perplexity, the grid's measure (fig4-deeper-nodes-specialised counts "
                  "classes per node instead, on the 4×200 nets, and can read differently). "
                  "Table 1's trend across the grid is its own row, "
                  "table1-bn-lowers-sparsity-whole-grid",
                  "each trend holds in every net (< 0, > 0, < 0)", section3_trends_elsewhere),
        ClaimSpec("fig5-untrained-medians-near-half", "3", "Fig 5", 6,
                  "For the untrained model, Figure 5 shows that the medians are mostly "
                  "clustered around 0.5 for the first hidden layer.",
                  "untrained sigmoid, layer 1: mean |class median − 0.5|",
                  "< 0.125 (half the 0.25 of medians spread evenly over [0, 1])",
                  fig5_untrained_medians_near_half),
        ClaimSpec("fig5-untrained-layer2-nearer-0-1", "3", "Fig 5", 6,
                  "The medians in the second hidden layer (nodes 200-400) are slightly more "
                  "saturated towards 1.0 and 0.0 and the median values are starting to "
                  "overlap more for classes at the same node.",
                  "untrained sigmoid: mean |median − 0.5| and overlap, layer 2 minus layer 1",
                  "both > 0", fig5_untrained_layer2_nearer_saturation),
        ClaimSpec("fig5-untrained-overlap-grows", "3", "Fig 5", 6,
                  "In the last hidden layer (nodes 600-800) it is observed that the "
                  "activation distributions lay almost directly on top of each other and "
                  "class information cannot be separated.",
                  "untrained sigmoid: overlap (%) and median range / layer std, last minus "
                  "first layer", "overlap grows (> 0) and the range shrinks (< 0)",
                  fig5_untrained_overlap_grows),
        ClaimSpec("fig5-trained-medians-saturate", "3", "Fig 5", 6,
                  "From Figure 5 we see that when the model is sufficiently trained, class "
                  "information is separated by saturating medians towards 0.0 and 1.0.",
                  "sigmoid: class medians within eps of 0 or 1 (%), mean over layers, "
                  "trained minus untrained", "> 0", fig5_trained_medians_saturate),
        ClaimSpec("fig5-trained-deep-layers-more", "3", "Fig 5", 6,
                  "This effect is more clear at deeper hidden layers (nodes 400-599 and "
                  "600-800), while more nodes in earlier layers have activation distributions "
                  "with median values slightly closer to 0.5.",
                  "trained sigmoid: medians near 0 or 1 (%), deep half minus shallow half of "
                  "the layers; mean |median − 0.5|, shallow half minus deep half",
                  "> 0 and < 0 (earlier layers closer to 0.5)", fig5_trained_deep_layers_more),
        ClaimSpec("fig6-relu-mean-equals-median", "3", "Fig 6", 6,
                  "For ReLU networks the mean and the median are almost identical due to the "
                  "uniform shape of their activation distributions.",
                  "trained ReLU, MNIST: |mean − median| of each class distribution in units "
                  "of its std, mean over classes, nodes and layers",
                  lambda: f"< {s3.MEAN_MEDIAN_TOLERANCE} class standard deviations",
                  fig6_relu_mean_equals_median),
        ClaimSpec("fig6-untrained-relu-medians-to-zero", "3", "Fig 6", 6,
                  "The median values of node distributions are less saturated in earlier "
                  "layers and saturate more towards 0.0 for deeper layers.",
                  "untrained ReLU: class medians ≤ 0 (%), last minus first layer", "> 0",
                  fig6_untrained_relu_medians_to_zero),
        ClaimSpec("fig6-untrained-relu-overlaps-less", "3", "Fig 6", 6,
                  "It is important to note that the activation distributions in deeper "
                  "layers do not overlap as strongly compared to the sigmoid network in "
                  "Figure 5.", "untrained, last layer: overlap (%), ReLU minus sigmoid", "< 0",
                  fig6_untrained_relu_overlaps_less),
        ClaimSpec("fig6-trained-relu-early-layers-low", "3", "Fig 6", 6, Q_FIG6_TRAINED,
                  "trained ReLU: mean class median, first minus last layer", "< 0",
                  fig6_trained_relu_early_layers_low),
        ClaimSpec("fig6-trained-relu-deep-layers-specialise", "3", "Fig 6", 6,
                  "The nodes in deeper layers have less overlap and nodes become more "
                  "specialized towards specific classes.",
                  "trained ReLU: overlap (%) and median range / layer std, last minus first "
                  "layer", "overlap falls (< 0) and the range grows (> 0)",
                  fig6_trained_relu_deep_layers_specialise),
        ClaimSpec("fig7-cifar-medians-look-untrained", "3", "Fig 7", 6,
                  "If the network cannot effectively fit the more complex data, class "
                  "information cannot be effectively separated and the median values look "
                  "more similar to the untrained models in Figure 5 and Figure 6.",
                  "per activation: change of median range / layer std through training "
                  "(|trained − untrained|, mean over layers), CIFAR-10 against MNIST",
                  "training changes CIFAR-10 medians less than half as much as MNIST's, for "
                  "both activations", fig7_cifar_looks_untrained),
    ]
    for ds in ("mnist", "cifar10"):
        name = DATASET_NAMES[ds]
        s += [
            ClaimSpec(f"table1-untrained-about-50-{ds}", "3", "Table 1", 6, Q_TABLE1,
                      f"{name}: sparsity (%) of untrained ReLU layers (the untrained ReLU BN "
                      "net is not counted again: in eval mode an untrained BN layer is the "
                      "identity up to 1/√(1+ε), so its sparsity repeats ReLU's)",
                      lambda: f"within 50 ± {s3.TABLE1_TOLERANCE:.0f} % in every layer",
                      _table1_untrained(ds),
                      paper=_fmt_paper(T1[(ds, "ReLU", "untrained")])),
            ClaimSpec(f"table1-trained-values-{ds}", "3", "Table 1", 6, Q_TABLE1,
                      f"{name}: sparsity (%) of trained ReLU and ReLU BN layers",
                      lambda: f"within ±{s3.TABLE1_TOLERANCE:.0f} points of the paper's "
                      "value in every cell", _table1_trained(ds),
                      paper="ReLU " + _fmt_paper(T1[(ds, "ReLU", "trained")]) + "; ReLU BN "
                      + _fmt_paper(T1[(ds, "ReLU BN", "trained")])),
            ClaimSpec(f"training-makes-relu-sparse-{ds}", "3", "Table 1", 6,
                      "This confirms the ability of ReLU trained networks to be sparse.",
                      f"{name}: ReLU sparsity (%), trained minus untrained, per layer",
                      "> 0 in every layer", _training_sparsifies(ds)),
            ClaimSpec(f"table1-bn-lowers-sparsity-{ds}", "3", "Table 1", 6, Q_BN_SPARSITY,
                      f"{name}: trained sparsity (%), ReLU BN minus ReLU, per layer",
                      "< 0 in every layer", _bn_lowers_sparsity(ds)),
            ClaimSpec(f"table1-bn-generalises-{ds}", "3", "Table 1", 6, Q_BN_GENERALISES,
                      f"{name}: test accuracy of the 4-layer Section 3 nets, ReLU BN minus "
                      "ReLU (the whole grid: bn-improves-relu-whole-grid)", "> 0",
                      _bn_generalises(ds)),
        ]
    s += [
        ClaimSpec("table1-bn-lowers-sparsity-whole-grid", "3", "Table 1", 6, Q_BN_SPARSITY,
                  "trained ReLU, every shape of the grid and both datasets (the grid's "
                  "per-layer table): sparsity (%), ReLU BN minus ReLU, mean over layers (the "
                  "per-dataset rows above judge each layer of the 4×200 nets)",
                  "< 0 in every net", bn_lowers_sparsity_whole_grid),
        ClaimSpec("interpretation-sparsity-not-whole-story", "3", "Table 1", 6,
                  "This leads us to believe that sparsity, although useful as proven by "
                  "Glorot et al. [1], does not entirely describe the impressive "
                  "generalization abilities of ReLU networks.", "—",
                  "an interpretation, not a measurement; its premises are the rows "
                  "table1-bn-lowers-sparsity-* and table1-bn-generalises-*",
                  kind="interpretation"),
        ClaimSpec("interpretation-different-ways", "4 (conclusion)", "text", None,
                  "It was observed that while ReLU and sigmoid networks both are able to "
                  "effectively separate class information, they do this in fundamentally "
                  "different ways.", "—",
                  "an interpretation of Figs 3-7; the rows of those figures test its parts",
                  kind="interpretation"),
        ClaimSpec("interpretation-closing", "4 (conclusion)", "text", None,
                  "Overall we find that sparsity and saturation seem less pertinent than the "
                  "way in which class-distinctive information is propagated through the "
                  "networks, and how node behavior differs.", "—",
                  "the paper's closing interpretation; no rule can measure 'pertinence' with "
                  "these experiments", kind="interpretation"),
    ]
    return s


SPECS: list[ClaimSpec] = _specs()
