"""A PyTorch model traced (torch.fx) into the project's layer graph: the chain the hardware runs.

Each :class:`Layer` is one Conv2d or Linear with what follows it folded in: a BatchNorm (into its
weight and bias), a ReLU, and for a conv one max or average pool. Flatten, ``view`` and
``reshape`` to (batch, features) are addressing only (the reference flattens in torch's order);
Dropout and Identity are dropped. Anything else — another op, a branch, a module called twice —
is refused with one line naming the op and its module path, before any training.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from ..errors import ConfigError
from .conv import ConvGeometry, Pool

SUPPORTED = ("Conv2d (groups 1 or depthwise), Linear, ReLU, MaxPool2d, AvgPool2d, "
             "Flatten/view/reshape, BatchNorm after a conv or linear, Dropout, Identity")
#: Largest |difference| (relative to the output's largest magnitude) between the model and its
#: traced graph on a random input: float rounding only.
TOLERANCE = 1e-4

_DROPPED = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.AlphaDropout, nn.Identity)
_FUNCTIONS = {
    F.relu: "relu", torch.relu: "relu", torch.flatten: "flatten", F.dropout: "drop",
    F.max_pool2d: "max", F.avg_pool2d: "avg", torch.max_pool2d: "max",
}
_METHODS = {"relu": "relu", "view": "flatten", "reshape": "flatten", "flatten": "flatten",
            "size": "size", "contiguous": "drop"}


@dataclass(frozen=True, eq=False)
class Layer:
    """One weighted layer of the chain, in float, with BatchNorm folded in."""

    name: str  #: module path of the Conv2d / Linear in the model
    module: nn.Module  #: the model's own Conv2d / Linear (what pruning masks)
    weight: torch.Tensor  #: folded float weight: (out, in/groups, kh, kw) or (out, in)
    bias: torch.Tensor  #: folded float bias (zeros where the layer has none)
    relu: bool
    geometry: ConvGeometry | None  #: None for a Linear layer

    @property
    def matrix(self) -> torch.Tensor:
        """The weight as the (rows, cols) matrix model.bin stores: conv columns in (c, ky, kx)."""
        return self.weight.reshape(self.weight.shape[0], -1)


@dataclass(frozen=True, eq=False)
class LayerGraph:
    input_shape: tuple[int, int, int]
    layers: tuple[Layer, ...]

    @torch.no_grad()
    def activations(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each layer's float output after its ReLU and before its pool (what is requantized)."""
        out = []
        for layer in self.layers:
            x = _conv_or_linear(layer, x)
            out.append(x)
            if layer.geometry is not None and layer.geometry.pool is not None:
                x = _pool(x, layer.geometry.pool)
        return out

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The logits (batch, classes) the graph computes in float."""
        last = self.layers[-1]
        y = self.activations(x)[-1]
        if last.geometry is not None and last.geometry.pool is not None:
            y = _pool(y, last.geometry.pool)
        return y.flatten(1)


def _conv_or_linear(layer: Layer, x: torch.Tensor) -> torch.Tensor:
    g = layer.geometry
    if g is None:
        y = F.linear(x.flatten(1), layer.weight, layer.bias)
    else:
        y = F.conv2d(x.reshape(len(x), *g.in_shape), layer.weight, layer.bias, g.stride,
                     g.padding, g.dilation, g.groups)
    return torch.relu(y) if layer.relu else y


def _pool(x: torch.Tensor, p: Pool) -> torch.Tensor:
    pool = F.max_pool2d if p.kind == "max" else F.avg_pool2d
    return pool(x, p.size, p.stride)


def _pair(v) -> tuple[int, int]:
    return tuple(v) if isinstance(v, (tuple, list)) else (int(v), int(v))


def _refuse(path: str, op: str, why: str = "") -> ConfigError:
    detail = f" ({why})" if why else ""
    return ConfigError(f"model: layer {path} ({op}) is not supported{detail}; supported: {SUPPORTED}")


def _conv_padding(conv: nn.Conv2d, path: str) -> tuple[int, int]:
    if conv.padding == "valid":
        return (0, 0)
    if conv.padding == "same":
        total = [d * (k - 1) for d, k in zip(conv.dilation, conv.kernel_size)]
        if any(t % 2 for t in total):
            raise _refuse(path, "Conv2d", "padding='same' with an even kernel pads unevenly")
        return (total[0] // 2, total[1] // 2)
    return _pair(conv.padding)


def _pool_of(node: fx.Node, gm: fx.GraphModule) -> Pool:
    """The Pool of a MaxPool2d / AvgPool2d module or an F.max_pool2d / F.avg_pool2d call."""
    if node.op == "call_module":
        m = gm.get_submodule(node.target)
        kind = "max" if isinstance(m, nn.MaxPool2d) else "avg"
        size, stride, padding, ceil = m.kernel_size, m.stride, m.padding, m.ceil_mode
        extra = [(getattr(m, "dilation", 1) not in (1, (1, 1)), "dilation"),
                 (getattr(m, "return_indices", False), "return_indices"),
                 (getattr(m, "divisor_override", None) is not None, "divisor_override")]
        path = node.target
    else:
        kind = _FUNCTIONS[node.target]
        args = list(node.args[1:]) + [None] * 4
        kw = node.kwargs
        size = kw.get("kernel_size", args[0])
        stride = kw.get("stride", args[1])
        padding = kw.get("padding", args[2] if args[2] is not None else 0)
        ceil = kw.get("ceil_mode", False)
        extra = [(kw.get("dilation", 1) not in (1, (1, 1)), "dilation"),
                 (kw.get("return_indices", False), "return_indices"),
                 (kw.get("divisor_override") is not None, "divisor_override")]
        path = node.name
    op = "MaxPool2d" if kind == "max" else "AvgPool2d"
    if _pair(padding) != (0, 0) or ceil:
        raise _refuse(path, op, "pools take no padding and no ceil_mode")
    for bad, what in extra:
        if bad:
            raise _refuse(path, op, f"{what} is not supported")
    size = _pair(size)
    return Pool(kind, size, _pair(stride) if stride not in (None, ()) else size)


class _Builder:
    """Walks the traced nodes in order, folding each into the layer it belongs to."""

    def __init__(self, gm: fx.GraphModule, input_shape):
        self.gm, self.input_shape = gm, input_shape
        self.layers: list[Layer] = []
        self.state = "input"  # input | weighted | bn | relu | pool
        self.seen: set[int] = set()

    def _shape(self, node: fx.Node) -> tuple[int, ...]:
        return tuple(node.meta["tensor_meta"].shape)

    def _last(self, **changes) -> None:
        self.layers[-1] = replace(self.layers[-1], **changes)

    def weighted(self, node: fx.Node, m: nn.Module, path: str) -> None:
        if id(m) in self.seen:
            raise _refuse(path, type(m).__name__, "a layer called twice")
        self.seen.add(id(m))
        in_shape = self._shape(node.args[0])
        weight = m.weight.detach().clone()
        bias = (m.bias.detach().clone() if m.bias is not None
                else torch.zeros(weight.shape[0], dtype=weight.dtype))
        geometry = None
        if isinstance(m, nn.Conv2d):
            if m.padding_mode != "zeros":
                raise _refuse(path, "Conv2d", f"padding_mode={m.padding_mode!r}")
            if m.groups not in (1, m.in_channels):
                raise _refuse(path, "Conv2d", f"groups={m.groups}: only 1 or depthwise")
            if len(in_shape) != 4:
                raise _refuse(path, "Conv2d", f"its input is {in_shape[1:]}, not a (C, H, W) map")
            geometry = ConvGeometry(*in_shape[1:], kernel=_pair(m.kernel_size),
                                    stride=_pair(m.stride), padding=_conv_padding(m, path),
                                    dilation=_pair(m.dilation), groups=m.groups)
        elif len(in_shape) != 2:
            raise _refuse(path, "Linear", f"its input is {in_shape[1:]}: flatten it first")
        self.layers.append(Layer(path, m, weight, bias, False, geometry))
        self.state = "weighted"

    def batchnorm(self, m: nn.Module, path: str) -> None:
        op = type(m).__name__
        if self.state != "weighted":
            raise _refuse(path, op, "a BatchNorm must directly follow a conv or linear layer")
        if m.running_mean is None:
            raise _refuse(path, op, "it keeps no running statistics to fold")
        layer = self.layers[-1]
        if m.num_features != layer.weight.shape[0]:
            raise _refuse(path, op, f"{m.num_features} features after {layer.weight.shape[0]} outputs")
        scale = (m.weight.detach() if m.affine else torch.ones(m.num_features)) / torch.sqrt(
            m.running_var + m.eps)
        shift = m.bias.detach() if m.affine else torch.zeros(m.num_features)
        weight = layer.weight * scale.reshape(-1, *([1] * (layer.weight.dim() - 1)))
        self._last(weight=weight, bias=(layer.bias - m.running_mean) * scale + shift)
        self.state = "bn"

    def relu(self, path: str) -> None:
        last = self.layers[-1] if self.layers else None
        after_max = (self.state == "pool" and last.geometry.pool.kind == "max")
        if self.state not in ("weighted", "bn", "relu") and not after_max:
            raise _refuse(path, "ReLU", "a ReLU must follow a conv, linear, BatchNorm or max pool")
        self._last(relu=True)  # a ReLU after a max pool commutes with it
        self.state = "relu" if self.state != "pool" else "pool"

    def pool(self, node: fx.Node, path: str) -> None:
        p = _pool_of(node, self.gm)
        op = "MaxPool2d" if p.kind == "max" else "AvgPool2d"
        last = self.layers[-1] if self.layers else None
        if last is None or last.geometry is None or self.state == "pool":
            raise _refuse(path, op, "a pool must follow a conv layer (one pool a layer)")
        geometry = replace(last.geometry, pool=p)
        if problem := geometry.problem(last.weight.shape[0]):
            raise _refuse(path, op, problem)
        self._last(geometry=geometry)
        self.state = "pool"

    def flatten(self, node: fx.Node, path: str, op: str) -> None:
        before, after = self._shape(node.args[0]), self._shape(node)
        if len(after) != 2 or after[0] != before[0]:
            raise _refuse(path, op, f"it makes {tuple(after)}; only (batch, features) is supported")


def _classify(node: fx.Node, gm: fx.GraphModule) -> tuple[str, str, str]:
    """(kind, module path, op name) of a node."""
    if node.op == "call_module":
        m = gm.get_submodule(node.target)
        kinds = [(nn.Conv2d, "weighted"), (nn.Linear, "weighted"),
                 ((nn.BatchNorm1d, nn.BatchNorm2d), "bn"), (nn.ReLU, "relu"),
                 ((nn.MaxPool2d, nn.AvgPool2d), "pool"), (nn.Flatten, "flatten"), (_DROPPED, "drop")]
        for types, kind in kinds:
            if type(m) in (types if isinstance(types, tuple) else (types,)):
                return kind, node.target, type(m).__name__
        return "unsupported", node.target, type(m).__name__
    if node.op == "call_function":
        name = getattr(node.target, "__name__", str(node.target))
        kind = _FUNCTIONS.get(node.target, "unsupported")
        return ("pool" if kind in ("max", "avg") else kind), node.name, name
    if node.op == "call_method":
        return _METHODS.get(node.target, "unsupported"), node.name, f".{node.target}()"
    return "unsupported", node.name, node.op  # get_attr: a parameter used outside its module


def _symbolic(model: nn.Module) -> fx.GraphModule:
    try:
        return fx.symbolic_trace(model)
    except Exception as e:  # a user's forward can fail in any way while it is traced
        first = (str(e).strip().splitlines() or [""])[0]
        raise ConfigError(f"model: torch.fx cannot trace it ({type(e).__name__}: {first})") from None


def trace(model: nn.Module, input_shape: tuple[int, int, int]) -> LayerGraph:
    """The layer graph of ``model`` for inputs of ``input_shape`` (channels, height, width);
    ConfigError naming the first op that is not supported."""
    gm = _symbolic(model)
    was_training = model.training
    model.eval()
    try:
        _check_ops(gm)  # an unsupported op is named before anything runs
        sample = torch.rand(2, *input_shape)
        try:
            ShapeProp(gm).propagate(sample)
        except Exception as e:  # shapes that do not chain raise in the user's own layers
            e = e.__cause__ or e  # ShapeProp wraps the layer's own error
            first = (str(e).strip().splitlines() or [""])[0]
            raise ConfigError(f"model: it cannot run on {input_shape} inputs "
                              f"({type(e).__name__}: {first})") from None
        graph = _walk(gm, input_shape)
        _check_same(model, graph, sample)
    finally:
        model.train(was_training)
    return graph


def _check_ops(gm: fx.GraphModule) -> None:
    for node in gm.graph.nodes:
        if node.op not in ("placeholder", "output"):
            kind, path, op = _classify(node, gm)
            if kind == "unsupported":
                raise _refuse(path, op)


def _walk(gm: fx.GraphModule, input_shape) -> LayerGraph:
    b = _Builder(gm, input_shape)
    current = None
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            if current is not None:
                raise ConfigError("model: its forward takes more than one input")
            current = node
            continue
        if node.op == "output":
            result = node.args[0]
            if result is not current:
                raise ConfigError("model: its forward must return the last layer's output "
                                  "(one tensor)")
            break
        kind, path, op = _classify(node, gm)
        if kind == "unsupported":
            raise _refuse(path, op)
        if not node.args or node.args[0] is not current:
            raise _refuse(path, op, "the layers must form one chain, each reading the one before")
        if kind == "size":
            continue  # x.size(0) for a view: its result is not the data
        if kind == "weighted":
            b.weighted(node, gm.get_submodule(node.target), path)
        elif kind == "bn":
            b.batchnorm(gm.get_submodule(node.target), path)
        elif kind == "relu":
            b.relu(path)
        elif kind == "pool":
            b.pool(node, path)
        elif kind == "flatten":
            b.flatten(node, path, op)
        current = node
    if not b.layers:
        raise ConfigError("model: it has no Conv2d or Linear layer")
    out = tuple(current.meta["tensor_meta"].shape)
    if len(out) != 2:
        raise ConfigError(f"model: its output is {out[1:]} per sample; it must be (classes,)")
    return LayerGraph(tuple(input_shape), tuple(b.layers))


def _check_same(model: nn.Module, graph: LayerGraph, sample: torch.Tensor) -> None:
    """The graph must compute what the model computes (a guard against a missed op)."""
    with torch.no_grad():
        want = model(sample)
        got = graph.forward(sample)
    scale = float(want.abs().max()) or 1.0
    error = float((want - got).abs().max()) if want.shape == got.shape else float("inf")
    if not error <= TOLERANCE * scale:
        raise ConfigError(f"model: its traced layer graph does not compute what its forward "
                          f"does (largest difference {error:.3g}); supported: {SUPPORTED}")
