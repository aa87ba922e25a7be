"""The standalone model writer on models whose modules hide constructor arguments from their repr."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from service.exports.standalone import _leaf_source, load_standalone, standalone_source


def test_settings_hidden_from_the_repr_are_kept() -> None:
    model = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1, bias=False),
        nn.BatchNorm2d(4, eps=1e-3, momentum=0.003),
        nn.AvgPool2d(3, 1, 1, count_include_pad=False),  # repr omits count_include_pad
        nn.MaxPool2d(3, 2, 1),
        nn.Flatten(),
        nn.Linear(4 * 4 * 4, 5),
    ).eval()
    source = standalone_source(model, (1, 2, 8, 8), title="t")
    assert "count_include_pad=False" in source
    rebuilt = load_standalone(source).eval()
    rebuilt.load_state_dict(model.state_dict())
    x = torch.randn(3, 2, 8, 8)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), model(x))


def test_custom_leaf_modules_are_refused_with_their_path() -> None:
    class Opaque(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * 2

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(1, 1, 1), nn.Upsample(scale_factor=2))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.body(x)

    source = standalone_source(Net(), (1, 1, 4, 4), title="t")  # Upsample rebuilds from its repr
    assert load_standalone(source)(torch.randn(1, 1, 4, 4)).shape == (1, 1, 8, 8)
    with pytest.raises(TypeError, match=r"body\.0: Opaque is not a torch.nn module"):
        _leaf_source(Opaque(), "body.0")
