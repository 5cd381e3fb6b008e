"""A small residual CNN whose kernel sizes, widths and shortcuts are searched (docs/own-model.md).

Run it to search it on digits from Python, retrain the result and export it to timm:
``python docs/examples/residual_cnn.py`` (``--fashion-mnist`` for Fashion-MNIST).
"""

from __future__ import annotations

import sys

import torch.nn.functional as F
from torch import nn

from nascore.nn import InputChoice, ValueBatchNorm2d, ValueChoice, ValueConv2d


class Block(nn.Module):
    """conv-BN-ReLU-conv-BN with a searched kernel size and hidden width, and a searched
    shortcut: the block's output is ``body(x)`` or ``x + body(x)``."""

    def __init__(self, channels: int, name: str) -> None:
        super().__init__()
        kernel = ValueChoice([3, 5], label=f"{name}.kernel")
        width = ValueChoice([8, 16, 24], label=f"{name}.width")
        self.body = nn.Sequential(
            ValueConv2d(channels, width, kernel), ValueBatchNorm2d(width), nn.ReLU(),
            ValueConv2d(width, channels, kernel), nn.BatchNorm2d(channels),
        )
        self.shortcut = InputChoice(2, label=f"{name}.shortcut")

    def forward(self, x):
        y = self.body(x)
        return F.relu(self.shortcut([y, x + y]))


class ResidualCNN(nn.Module):
    def __init__(self, num_classes: int, in_chans: int, channels: int = 16) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_chans, channels, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(channels), nn.ReLU())
        self.block1 = Block(channels, "block1")
        self.down = nn.Sequential(nn.Conv2d(channels, channels, 3, 2, 1, bias=False),
                                  nn.BatchNorm2d(channels), nn.ReLU())
        self.block2 = Block(channels, "block2")
        self.head = nn.Linear(channels, num_classes)

    def forward(self, x):
        x = self.block2(self.down(self.block1(self.stem(x))))
        return self.head(x.mean(dim=(2, 3)))


def residual_cnn(num_classes: int, in_chans: int) -> nn.Module:
    """The factory nascore calls with the dataset's classes and input channels."""
    return ResidualCNN(num_classes, in_chans)


if __name__ == "__main__":
    import nascore

    dataset = "fashion-mnist" if "--fashion-mnist" in sys.argv else "digits"
    found = nascore.search("evolution", residual_cnn, dataset=dataset, estimator="train",
                           budget="tiny", constraints=["params:..12k"],
                           config={"strategy": {"queries": 8}}, out=f"runs/residual-{dataset}")
    print(found.text, found.constraints)
    trained = nascore.train(found, epochs=2, out=f"runs/residual-{dataset}-train")
    print("test accuracy", trained.test_acc)
    print(nascore.export(trained, "timm"))
