import math

import pandas as pd
import pytest
import torch
from hand_nets import H, Y

from helpers.activation_distributions import (
    classes_responded_to,
    distribution_claims,
    node_std,
    relu_layer_summary,
    shared_saturation,
    sigmoid_layer_summary,
    typical_nodes,
    typical_nodes_table,
)


# ------------------------------------------------------------------------- node selection
def test_node_std_by_hand():
    assert node_std([H]).tolist()[0] == pytest.approx([0.0, 0.5, math.sqrt(0.0125)])


def test_typical_nodes_picks_nodes_at_std_quantiles():
    spread = torch.tensor([[0.3, 0.1, 0.5, 0.2, 0.4]])  # sorted: nodes 1, 3, 0, 4, 2
    nodes = typical_nodes(spread, quantiles=(0.0, 0.25, 0.5, 0.75, 1.0))
    assert nodes.tolist() == [[1, 3, 0, 4, 2]]


def test_typical_nodes_rounds_half_up_and_breaks_ties_by_index():
    # width 4: q = 0.5 -> rank floor(1.5 + 0.5) = 2; ties keep node order 0, 1, 3
    spread = torch.tensor([[1.0, 1.0, 0.0, 1.0],
                           [4.0, 3.0, 2.0, 1.0]])
    assert typical_nodes(spread, (0.5,)).tolist() == [[1], [1]]
    assert typical_nodes(spread, (0.0, 1.0)).tolist() == [[2, 3], [3, 0]]
    # width 6: q = 0.5 -> rank floor(2.5 + 0.5) = 3 (round-half-even would give 2)
    assert typical_nodes(torch.arange(6.0)[None], (0.5,)).tolist() == [[3]]


def test_typical_nodes_rejects_bad_input():
    with pytest.raises(ValueError, match="quantiles"):
        typical_nodes(torch.ones(2, 3), (0.5, 1.2))
    with pytest.raises(ValueError, match="spread"):
        typical_nodes(torch.ones(3), (0.5,))


def test_typical_nodes_table_numbers_from_one():
    second = H[:, [2, 1, 0]]  # layer 2: node 3 is constant, node 1 varies least
    table = typical_nodes_table([H, second], quantiles=(0.0, 1.0))
    assert table["layer"].tolist() == [1, 1, 2, 2]
    assert table["node in layer"].tolist() == [1, 2, 3, 2]
    assert table["node in network"].tolist() == [1, 2, 6, 5]
    assert table["node std"].tolist() == pytest.approx([0.0, 0.5, 0.0, 0.5])


def test_shared_saturation_by_hand():
    # 3 classes, 1 layer, 3 nodes: node 0 separates and parks two classes at 0; node 1
    # separates with one class at each end; node 2 does not separate (range 0.2)
    medians = torch.tensor([[[0.01, 0.01, 0.4]], [[0.02, 0.5, 0.5]], [[0.99, 0.99, 0.6]]])
    assert shared_saturation(medians, eps=0.05).tolist() == pytest.approx([0.5])
    assert math.isnan(shared_saturation(medians[:, :, 2:], eps=0.05).item())
    with pytest.raises(ValueError, match="medians"):
        shared_saturation(torch.ones(2, 3))


# ---------------------------------------------------------------------- layer summaries
def test_classes_responded_to_by_hand():
    # 3 classes, 1 layer, 2 nodes; a node responds when active for > half a class
    inactive = torch.tensor([[[0.0, 0.9]], [[0.5, 0.9]], [[0.2, 1.0]]])
    assert classes_responded_to(inactive).tolist() == [[2, 0]]
    assert classes_responded_to(inactive, min_active=0.05).tolist() == [[3, 2]]
    with pytest.raises(ValueError, match="min_active"):
        classes_responded_to(inactive, min_active=1.0)


def test_relu_layer_summary_by_hand():
    relu = torch.tensor([[0.0, 2.0, 0.0],
                         [0.0, 3.0, 1.0],
                         [0.0, 0.0, 4.0],
                         [0.0, 0.0, 6.0]])
    s = relu_layer_summary([relu], Y, n_classes=2).iloc[0]
    assert s["active (%)"] == pytest.approx(100 * 5 / 12)
    # node 0 responds to no class, node 1 to class 0, node 2 to class 1 (2/2 active)
    assert s["classes per node"] == pytest.approx(2 / 3)
    assert s["one-class nodes (%)"] == pytest.approx(100 * 2 / 3)
    assert s["no-class nodes (%)"] == pytest.approx(100 / 3)
    assert s["dead nodes (%)"] == pytest.approx(100 / 3)


def test_sigmoid_layer_summary_by_hand():
    sig = torch.tensor([[0.01, 0.5], [0.02, 0.97], [0.99, 0.5], [0.6, 0.5]])
    s = sigmoid_layer_summary([sig], Y, n_classes=2, eps=0.05, point_std=0.02).iloc[0]
    assert s["near 0 (%)"] == pytest.approx(100 * 2 / 8)
    assert s["near 1 (%)"] == pytest.approx(100 * 2 / 8)
    assert s["saturated (%)"] == pytest.approx(100 * 4 / 8)
    # class stds: node 0: .005, .195; node 1: .235, 0 -> point-like 2 of 4
    assert s["within-class std"] == pytest.approx((0.005 + 0.195 + 0.235 + 0.0) / 4)
    assert s["point-like classes (%)"] == pytest.approx(50.0)
    # class medians: node 0 (0.015, 0.795) separates, with one class at each end (not
    # shared); node 1 (0.735, 0.5) does not separate -> 0 of 1 separated nodes
    assert s["separated nodes sharing 0 or 1 (%)"] == 0.0


def test_distribution_claims_judge_seed_by_seed():
    def sig(seed, trained_sat):
        return pd.DataFrame({
            "dataset": "mnist", "seed": seed, "state": ["untrained"] * 4 + ["trained"] * 4,
            "layer": [1, 2, 3, 4] * 2, "saturated (%)": [1, 1, 1, 1, *trained_sat],
            "within-class std": [0.1] * 4 + [0.2, 0.3, 0.2, 0.2],
            "point-like classes (%)": [0] * 4 + [0, 0, 1, 2]})

    def relu(seed):
        return pd.DataFrame({
            "dataset": "mnist", "seed": seed, "state": "trained", "layer": [1, 2, 3, 4],
            "active (%)": [60 + seed, 50, 40, 30], "classes per node": [6, 5, 4, 3],
            "one-class nodes (%)": [1, 2, 3, 4]})

    # seed 0: layer 2 is the least saturated; seed 1: layer 3 is
    sigmoid = pd.concat([sig(0, [50, 20, 40, 60]), sig(1, [70, 40, 20, 30])])
    claims = distribution_claims(sigmoid, pd.concat([relu(0), relu(1)])).set_index("id")
    least = claims.loc["fig3-layer2-least-saturated"]
    assert least["verdict"] == "inconclusive" and least["basis"] == \
        "2 seeds; within noise (seeds split 1-1)"
    assert least["ours"] == "0.0 ± 20.0 pts"  # seed 0: 20 - 40, seed 1: 40 - 20
    assert claims.loc["fig4-deeper-nodes-fewer-samples", "verdict"] == "agrees"
    assert claims.loc["fig4-deeper-nodes-fewer-samples", "ours"] == "-30.5 ± 0.5 pts"
    assert claims.loc["fig4-relu-overlaps-less", "verdict"] == "pending"  # no medians
    assert claims.loc["section3-4-layer-nets-typical", "verdict"] == "pending"  # no grid
