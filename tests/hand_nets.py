"""A hand-made network, inputs and activations where every answer is known (shared by
several test files; not itself a test file)."""

import torch

from helpers.models import MLP

# Four samples, two features; a one-layer ReLU net with three hand-set units:
# unit 0: w=(0,0), b=-1  -> always -1   -> off 4/4 (dead)
# unit 1: w=(1,0), b=0   -> 1, 0, -1, 0 -> off 3/4
# unit 2: w=(0,0), b=1   -> always 1    -> off 0/4
X4 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
Y4 = torch.tensor([0, 1, 0, 1])


def hand_model(activation="relu", biases=(-1.0, 0.0, 1.0)):
    model = MLP(2, depth=1, width=3, activation=activation, n_classes=2)
    with torch.no_grad():
        model.linears[0].weight.copy_(torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 0.0]]))
        model.linears[0].bias.copy_(torch.tensor(biases))
    return model


# Hand-made activations: 4 samples (classes 0, 0, 1, 1), one layer of 3 nodes.
#   node 0: constant 0.5        -> std 0
#   node 1: 0, 0, 1, 1          -> std 0.5, class medians 0 and 1
#   node 2: 0.2, 0.4, 0.3, 0.5  -> std sqrt(0.0125), class medians 0.3 and 0.4
H = torch.tensor([[0.5, 0.0, 0.2],
                  [0.5, 0.0, 0.4],
                  [0.5, 1.0, 0.3],
                  [0.5, 1.0, 0.5]])
Y = torch.tensor([0, 0, 1, 1])
