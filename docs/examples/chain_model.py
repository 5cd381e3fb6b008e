"""The plugin guide's ``chain`` space written as a model: a stack of layers, each choosing a
3x3 convolution, a 5x5 convolution or a skip (``--space
module:docs/examples/chain_model.py:chain``)."""

from torch import nn

from nascore.nn import LayerChoice


def conv(channels: int, k: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(channels, channels, k, padding=k // 2, bias=False),
                         nn.BatchNorm2d(channels), nn.ReLU())


def chain(num_classes: int, in_chans: int, channels: int = 8, layers: int = 4) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(in_chans, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels),
        *(LayerChoice({"conv3x3": conv(channels, 3), "conv5x5": conv(channels, 5),
                       "skip": nn.Identity()}, label=f"layer{i}") for i in range(layers)),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes),
    )
