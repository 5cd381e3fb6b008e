"""A tiny CNN with a layer choice, an input choice and a value choice (tests)."""

from torch import nn

from nascore.nn import InputChoice, LayerChoice, ValueBatchNorm2d, ValueChoice, ValueConv2d


class TinyCNN(nn.Module):
    def __init__(self, num_classes: int, in_chans: int, channels: int = 4) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_chans, channels, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(channels), nn.ReLU())
        self.op = LayerChoice({
            "conv3": nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1, bias=False),
                                   nn.BatchNorm2d(channels), nn.ReLU()),
            "pool": nn.MaxPool2d(3, 1, 1),
            "skip": nn.Identity(),
        })
        kernel = ValueChoice([3, 5], label="kernel")
        self.conv = nn.Sequential(ValueConv2d(channels, channels, kernel),
                                  ValueBatchNorm2d(channels), nn.ReLU())
        self.merge = InputChoice(3, n_chosen=1, label="merge")
        self.head = nn.Linear(channels, num_classes)

    def forward(self, x):
        x0 = self.stem(x)
        x1 = self.op(x0)
        x2 = self.conv(x1)
        return self.head(self.merge([x0, x1, x2]).mean(dim=(2, 3)))


def tiny_cnn(num_classes: int, in_chans: int) -> nn.Module:
    return TinyCNN(num_classes, in_chans)
