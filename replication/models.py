"""The networks of the paper's Table 1, plus their small cousins for CPU scales.

Initialization follows Table 1 (Kaiming uniform for LeNet, Kaiming normal for the
convnets) and is seeded explicitly: the model is built inside a forked RNG, so
building a model never touches the caller's global random state.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn
import torch.nn.functional as F

from .data import TensorData
from .spec import MODELS, ExperimentSpec, SpecError, is_import_path, load_object


class LeNet(nn.Module):
    """Fully connected 784-300-100-10 (Frankle & Carbin's LeNet-300-100)."""

    def __init__(self, input_shape: tuple[int, ...], num_classes: int, widths: tuple[int, ...] = (300, 100)):
        super().__init__()
        sizes = [int(torch.tensor(input_shape).prod())] + list(widths)
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
        self.output = nn.Linear(sizes[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        for layer in self.hidden:
            x = F.relu(layer(x))
        return self.output(x)


class ConvNet(nn.Module):
    """Conv-2/4/6 of Frankle & Carbin: 3×3 convs in pairs, a max-pool after each pair, three dense layers."""

    def __init__(self, input_shape: tuple[int, ...], num_classes: int, channels: tuple[int, ...],
                 dense: tuple[int, ...] = (256, 256)):
        super().__init__()
        layers: list[nn.Module] = []
        c_in, side = input_shape[0], input_shape[1]
        for i, c_out in enumerate(channels):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU()]
            if i % 2 == 1:
                layers.append(nn.MaxPool2d(2))
                side //= 2
            c_in = c_out
        self.features = nn.Sequential(*layers)
        sizes = [c_in * side * side] + list(dense)
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
        self.output = nn.Linear(sizes[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x).flatten(1)
        for layer in self.hidden:
            x = F.relu(layer(x))
        return self.output(x)


class BasicBlock(nn.Module):
    """He et al.'s CIFAR basic block. The default shortcut has no parameters
    (stride-2 subsampling and zero-padded channels), so there is nothing to prune in it."""

    def __init__(self, c_in: int, c_out: int, stride: int, projection: bool):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.stride, self.pad = stride, c_out - c_in
        self.shortcut = None
        if projection and (stride != 1 or c_in != c_out):
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.shortcut is not None:
            skip = self.shortcut(x)
        else:
            skip = x[:, :, :: self.stride, :: self.stride]
            if self.pad:
                skip = F.pad(skip, (0, 0, 0, 0, 0, self.pad))
        return F.relu(out + skip)


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for CIFAR: 3 stages of n basic blocks at widths w, 2w, 4w."""

    def __init__(self, input_shape: tuple[int, ...], num_classes: int, depth: int = 20, width: int = 16,
                 projection: bool = False):
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"CIFAR ResNet depth must be 6n+2, got {depth}")
        n = (depth - 2) // 6
        self.conv = nn.Conv2d(input_shape[0], width, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(width)
        blocks, c_in = [], width
        for stage, c_out in enumerate((width, 2 * width, 4 * width)):
            for i in range(n):
                blocks.append(BasicBlock(c_in, c_out, 2 if (stage > 0 and i == 0) else 1, projection))
                c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.output = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(F.relu(self.bn(self.conv(x))))
        return self.output(F.adaptive_avg_pool2d(x, 1).flatten(1))


class CifarVGG(nn.Module):
    """VGG-16 for CIFAR (open_lth's cifar_vgg_16): batch norm after every conv, one linear output."""

    PLAN = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)

    def __init__(self, input_shape: tuple[int, ...], num_classes: int):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = input_shape[0]
        for item in self.PLAN:
            if item == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(c_in, item, 3, padding=1, bias=False), nn.BatchNorm2d(item), nn.ReLU()]
                c_in = item
        self.features = nn.Sequential(*layers)
        self.output = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(F.adaptive_avg_pool2d(self.features(x), 1).flatten(1))


def _resnet50(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    import torchvision

    return torchvision.models.resnet50(weights=None, num_classes=num_classes)


_BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "lenet": LeNet,
    "conv2": lambda s, k, **kw: ConvNet(s, k, (64, 64), **kw),
    "conv4": lambda s, k, **kw: ConvNet(s, k, (64, 64, 128, 128), **kw),
    "conv6": lambda s, k, **kw: ConvNet(s, k, (64, 64, 128, 128, 256, 256), **kw),
    "resnet20": CifarResNet,
    "vgg16": CifarVGG,
    "resnet50": _resnet50,
}


def initialize(model: nn.Module, init: str) -> None:
    """Kaiming init of every conv/linear weight; zero biases; affine batch norm at (1, 0)."""
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            if init == "kaiming_normal":
                nn.init.kaiming_normal_(module.weight)
            elif init == "kaiming_uniform":
                nn.init.kaiming_uniform_(module.weight)
            else:
                raise ValueError(f"unknown init {init!r}")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


def build_model(name: str, input_shape: tuple[int, ...], num_classes: int, init: str, seed: int,
                **kwargs: Any) -> nn.Module:
    """A freshly initialized network; the same (name, shape, init, seed) gives the same weights.
    `name` is one of MODELS, or your own "module:function" taking (input_shape, num_classes, **model_args)
    and returning an nn.Module: its Linear and Conv2d layers get `init`, other layers keep their own."""
    if name not in _BUILDERS and not is_import_path(name):
        raise ValueError(f"unknown model {name!r}; use one of {', '.join(MODELS)}")
    builder = _BUILDERS[name] if name in _BUILDERS else load_object(name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = builder(tuple(input_shape), num_classes, **kwargs)
        if not isinstance(model, nn.Module):
            raise SpecError(f"model {name!r} returned {type(model).__name__}, not a torch.nn.Module")
        initialize(model, init)
    return model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def fresh_model(spec: ExperimentSpec, data: TensorData, seed: int) -> nn.Module:
    """The spec's network for the data's image shape and classes, initialized from `seed`."""
    t = spec.train
    return build_model(t.model, data.image_shape, data.num_classes, t.init, seed, **t.model_kwargs)
