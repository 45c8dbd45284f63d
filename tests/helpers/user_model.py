"""A user's own network, outside the package: Conv–BatchNorm–ReLU–MaxPool–Conv–ReLU–Flatten–Linear.

The flow reaches it by ``model.module = "tests/helpers/user_model.py:ConvNet"`` (a file) or
``"tests.helpers.user_model:ConvNet"`` (a module); the sizes fit 8×8 digits.
"""

import torch
from torch import nn


class ConvNet(nn.Module):
    def __init__(self, classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 12, 3), nn.ReLU())
        self.head = nn.Linear(12 * 2 * 2, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(self.features(x), 1))
