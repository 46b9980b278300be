"""What crosses between the student's kernel and the grader: plain data, never code.

In the kernel, :func:`send_answers` and :func:`send_call` (run by one-line cells of the grader's)
:func:`encode` values into tensors, numbers, strings, lists, tuples, sizes, dtypes, devices and small
tagged dicts (``...``, NumPy values, dicts, sets, a model's parameters, a dataset's items, and a
*kept object* -- a function, say -- that stays in the kernel under a number), ``torch.save`` them and
publish them as display data. The grader reads them with ``torch.load(weights_only=True)``, which
refuses every class but tensors and plain containers, and :func:`decode` rebuilds them within caps.
A kept object becomes a :class:`KernelObject` (a model a :class:`KernelModule`): calling it runs the
student's code in the kernel, and the result comes back as data. A student may patch all that runs
in the kernel; it only changes the data sent, which the grader judges on its merits.
"""

from __future__ import annotations

import base64
import builtins
import io
import keyword
import re
from dataclasses import dataclass
from typing import Any, Callable

import torch

MIME = "application/vnd.tensorlab.wire+base64"
TAG = "__tensorlab_wire__"
MAX_DEPTH = 32
MAX_ITEMS = 1_000_000  # items (and thousands of tensor elements) in one answer, counted on both sides
MAX_SEQUENCE = 1_000  # a dataset travels as its items up to this length
MAX_ELEMENTS = 2**26  # a tensor the grader will compare (an expanded view can claim any size; meta: no data)


class WireError(ValueError):
    """Data that cannot be read: too large, too deep, or not what the protocol allows."""


@dataclass(frozen=True)
class Ref:
    oid: int  # a kept object, in the arguments the grader sends into the kernel


class _Budget:
    def __init__(self) -> None:
        self.left = MAX_ITEMS

    def spend(self, count: int = 1) -> None:
        self.left -= count
        if self.left < 0:
            raise WireError(f"it holds more than {MAX_ITEMS:,} items")


# ---------------------------------------------------------------------------------------------
# in the kernel
# ---------------------------------------------------------------------------------------------

_KEPT: dict[int, Any] = {}


def _keep(value: Any) -> int:
    _KEPT[len(_KEPT) + 1] = value
    return len(_KEPT)


def _tensor(value: torch.Tensor, with_grad: bool = True) -> Any:
    tensor = value.detach().as_subclass(torch.Tensor)
    if value.requires_grad and (tensor.is_floating_point() or tensor.is_complex()):
        tensor = tensor.clone().requires_grad_(True)
    if with_grad and value.is_leaf and value.grad is not None:  # a parameter after backward()
        return {TAG: "grad", "data": tensor, "grad": _tensor(value.grad, False)}
    return tensor


def encode(value: Any, budget: _Budget | None = None, depth: int = 0) -> Any:
    """``value`` as plain data; what is not data is kept here and sent as its number."""
    budget = budget or _Budget()
    budget.spend()
    if depth > MAX_DEPTH:
        raise WireError("it is nested too deeply")
    if value is None or type(value) in (bool, int, float, complex, str, bytes, torch.device, torch.dtype):
        return value
    if value is Ellipsis:
        return {TAG: "ellipsis"}
    if isinstance(value, torch.Tensor):
        budget.spend(0 if value.is_meta else value.numel() >> 10)
        return _tensor(value)
    if isinstance(value, torch.Size):
        return torch.Size(int(v) for v in value)
    if type(value).__module__ == "numpy" and getattr(getattr(value, "dtype", None), "kind", "") in tuple("biufc"):
        budget.spend(value.size >> 10)
        if type(value).__name__ != "ndarray":
            return {TAG: "npscalar", "dtype": str(value.dtype), "value": value.item()}
        try:
            return {TAG: "ndarray", "data": torch.from_numpy(value.astype(value.dtype.newbyteorder("=")))}
        except TypeError:  # a dtype torch lacks: kept like any object
            pass
    for plain in (bool, int, float, str, bytes):  # subclasses (an IntEnum ...) travel as what they are
        if isinstance(value, plain):
            return int.__index__(value) if plain is int else plain(value)
    if isinstance(value, torch.nn.Module):
        return {
            TAG: "module",
            "oid": _keep(value),
            "type": type(value).__name__[:80],
            "parameters": {k: _tensor(t) for k, t in value.named_parameters()},
            "buffers": {k: _tensor(t, False) for k, t in value.named_buffers()},
        }
    if isinstance(value, (list, tuple)):  # subclasses (a namedtuple ...) travel as plain ones
        items = [encode(v, budget, depth + 1) for v in value]
        return items if isinstance(value, list) else tuple(items)
    if type(value) in (dict, set, frozenset):
        pairs = value.items() if type(value) is dict else ((v, None) for v in value)
        return {
            TAG: type(value).__name__,
            "items": [(encode(k, budget, depth + 1), encode(v, budget, depth + 1)) for k, v in pairs],
        }
    if not callable(value) and hasattr(value, "__len__") and hasattr(value, "__getitem__"):
        try:  # a dataset: its items, as hidden tests index and batch it
            if len(value) <= MAX_SEQUENCE:
                return {TAG: "list", "items": [encode(value[i], budget, depth + 1) for i in range(len(value))]}
        except WireError:
            raise
        except Exception:  # not a sequence after all: kept like any object
            pass
    try:
        text = repr(value)[:200]
    except Exception:  # a repr that raises is the student's problem
        text = ""
    name = getattr(value, "__name__", None)
    return {
        TAG: "object",
        "oid": _keep(value),
        "type": type(value).__name__[:80],
        "text": text,
        "name": name[:80] if isinstance(name, str) else None,
    }


def _saved(value: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


def _publish(reply: Any) -> None:
    from IPython.display import publish_display_data

    publish_display_data({MIME: base64.b64encode(_saved(reply)).decode("ascii")})


def _error(error: BaseException) -> tuple[str, str, str]:
    from tensorlab.checking import one_line

    try:
        return "error", type(error).__name__[:80], one_line(error)[:300]
    except Exception:  # a __str__ that raises
        return "error", type(error).__name__[:80], ""


def send_answers(expressions: dict[str, str]) -> None:
    """Publish [(key, bytes of ("value", data) or ("error", type, message)), ...]: each answer saved
    on its own, so that one the grader cannot read costs only itself."""
    from IPython import get_ipython

    namespace, reply = get_ipython().user_ns, []
    for key, expression in expressions.items():
        try:
            answer = ("value", encode(eval(expression, namespace)))  # the solution's expression
        except BaseException as error:
            answer = _error(error)
        reply.append((key, _saved(answer)))
    _publish(reply)


def send_call(oid: int, arguments: str) -> None:
    """Call kept object ``oid`` on the grader's arguments; publish ("value", result, the arguments
    as the call left them) -- a model moved with ``net.to(device)`` -- or ("error", type, message)."""
    args, kwargs = _from_refs(torch.load(io.BytesIO(base64.b64decode(arguments)), weights_only=False))
    try:
        result = _KEPT[oid](*args, **kwargs)
        _publish(("value", encode(result), encode((args, kwargs))))
    except BaseException as error:
        _publish(_error(error))


def _swap(value: Any, swap: Callable[[Any], Any]) -> Any:
    """``value`` with ``swap`` applied to every item of its lists, tuples and dicts (kept objects <-> Refs)."""
    if type(value) in (list, tuple):
        return type(value)(_swap(v, swap) for v in value)
    return {k: _swap(v, swap) for k, v in value.items()} if type(value) is dict else swap(value)


def _from_refs(value: Any) -> Any:
    return _swap(value, lambda v: _KEPT[v.oid] if isinstance(v, Ref) else v)


# ---------------------------------------------------------------------------------------------
# in the grader
# ---------------------------------------------------------------------------------------------


class KernelObject:
    """A function (or other object) of the student's that stays in the kernel; ``call(oid, args,
    kwargs)`` runs it there and returns data."""

    def __init__(self, call: Callable | None, oid: int, text: str, name: str):
        self._call, self._oid, self._text, self.__name__ = call, oid, text, name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._call is None:
            raise TypeError("it cannot be run from here")
        return self._call(self._oid, args, kwargs)

    def __repr__(self) -> str:
        return self._text or f"<a {type(self).__name__} object>"


class KernelModule(torch.nn.Module):
    """A model of the student's: its parameters and buffers as data (``net.conv.weight.grad`` works
    here); calling it runs it in the kernel."""

    def __init__(self, call: Callable | None, oid: int, parameters: dict, buffers: dict):
        super().__init__()
        self._call, self._oid = call, oid
        for name, tensor in [*parameters.items(), *buffers.items()]:
            owner, (*path, leaf) = self, name.split(".")
            for part in path:
                if part not in owner._modules:
                    owner.add_module(part, torch.nn.Module())
                owner = owner._modules[part]
            if name in buffers:
                owner.register_buffer(leaf, tensor)
            else:
                owner.register_parameter(leaf, torch.nn.Parameter(tensor.detach(), tensor.requires_grad))
                owner._parameters[leaf].grad = tensor.grad

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return KernelObject.__call__(self, *args, **kwargs)


def _named_like(base: type, name: str) -> type:
    """A subclass named like the student's type, so that a check says "it is a Linear"."""
    return type(name if name.isidentifier() and not keyword.iskeyword(name) else base.__name__, (base,), {})


def loads(blob: bytes) -> Any:
    """Read wire bytes with PyTorch's restricted unpickler (``weights_only=True``)."""
    try:
        return torch.load(io.BytesIO(blob), weights_only=True)
    except RecursionError:
        raise WireError("it is nested too deeply") from None
    except Exception as error:  # anything the safe unpickler refuses
        found = re.search(r"GLOBAL ([\w.]+)", str(error))
        raise WireError(
            f"it holds an object of class {found.group(1).rsplit('.', 1)[-1]}, which is not plain data "
            "(a tensor, a number, a string, a list ...)"
            if found
            else "it is not plain data the grader can read safely"
        ) from None


def decode(data: Any, call: Callable | None = None, budget: _Budget | None = None, depth: int = 0) -> Any:
    """Rebuild a value from wire data within the caps; anything unexpected raises WireError."""
    budget = budget or _Budget()
    budget.spend()
    if depth > MAX_DEPTH + 2:
        raise WireError("it is nested too deeply")
    if data is None or type(data) in (bool, int, float, complex, str, bytes, torch.device, torch.dtype, torch.Size):
        return data
    if type(data) in (torch.Tensor, torch.nn.Parameter):
        if data.numel() > MAX_ELEMENTS and not data.is_meta:
            raise WireError(
                f"a tensor of {data.numel():,} elements is more than the grader compares ({MAX_ELEMENTS:,})"
            )
        budget.spend(0 if data.is_meta else data.numel() >> 10)
        return data
    if type(data) in (list, tuple):
        return type(data)(decode(v, call, budget, depth + 1) for v in data)
    kind = data.get(TAG) if type(data) is dict else None
    inner = lambda value: decode(value, call, budget, depth + 1)  # noqa: E731 - one line's helper
    if kind == "ellipsis":
        return Ellipsis
    if kind in ("dict", "set", "frozenset", "list") and type(data.get("items")) is list:
        pairs = [(inner(k), inner(v)) for k, v in data["items"]] if kind != "list" else []
        if kind == "dict":
            return {_hashable(k): v for k, v in pairs}
        return (
            [inner(v) for v in data["items"]]
            if kind == "list"
            else (set if kind == "set" else frozenset)(_hashable(k) for k, _ in pairs)
        )
    if kind == "ndarray" and type(data.get("data")) is torch.Tensor:
        return inner(data["data"]).numpy()
    if kind == "npscalar" and type(data.get("value")) in (bool, int, float, complex):
        import numpy as np

        return np.dtype(str(data.get("dtype"))).type(data["value"])
    if kind == "grad":
        tensor, grad = inner(data.get("data")), inner(data.get("grad"))
        if not (isinstance(tensor, torch.Tensor) and isinstance(grad, torch.Tensor)):
            raise WireError("a gradient that is not a tensor")
        tensor = tensor.detach().requires_grad_(True)
        tensor.grad = grad
        return tensor
    if kind in ("module", "object") and type(data.get("oid")) is int:
        name = str(data.get("type", "object"))[:80]
        if kind == "object":
            shown = data.get("name") if isinstance(data.get("name"), str) else name
            return _named_like(KernelObject, name)(call, data["oid"], str(data.get("text", ""))[:200], shown[:80])
        parts = [
            {k: inner(v) for k, v in data[p].items()} if type(data.get(p)) is dict else None
            for p in ("parameters", "buffers")
        ]
        if None not in parts and all(
            type(k) is str and isinstance(t, torch.Tensor) for part in parts for k, t in part.items()
        ):
            return _named_like(KernelModule, name)(call, data["oid"], *parts)
    raise WireError(f"unexpected {kind or type(data).__name__} in the data")


def _hashable(value: Any) -> Any:
    try:
        hash(value)
    except TypeError:
        raise WireError("a dict key or set item that cannot be hashed") from None
    return value


def dumps_arguments(args: tuple, kwargs: dict) -> str:
    """The grader's arguments for a call in the kernel (kept objects travel as their numbers)."""

    refs = _swap(
        (tuple(args), dict(kwargs)), lambda v: Ref(v._oid) if isinstance(v, (KernelObject, KernelModule)) else v
    )
    return base64.b64encode(_saved(refs)).decode("ascii")


def remote_exception(type_name: str, message: str) -> Exception:
    """Stands for an exception raised in the kernel: a built-in one keeps its class (a check reads
    NotImplementedError as "not attempted"), any other gets a look-alike of that name."""
    builtin = getattr(builtins, type_name, None)
    try:
        if isinstance(builtin, type) and issubclass(builtin, Exception):
            return builtin(message)
    except TypeError:  # one that wants other arguments (UnicodeDecodeError ...)
        pass
    return type(type_name if type_name.isidentifier() else "Exception", (Exception,), {})(message)


def sync(original: Any, after: Any, depth: int = 0) -> None:
    """Copy into the grader's own arguments what the student's function did to a model among them
    in the kernel (``net.to(device)`` moves it in place)."""
    if isinstance(original, torch.nn.Module) and isinstance(after, KernelModule):
        for name, value in after.state_dict(keep_vars=True).items():
            owner_name, _, leaf = name.rpartition(".")
            owner = original.get_submodule(owner_name) if owner_name else original
            if owner._parameters.get(leaf) is not None:
                owner._parameters[leaf] = torch.nn.Parameter(value.detach(), owner._parameters[leaf].requires_grad)
            elif owner._buffers.get(leaf) is not None:
                owner._buffers[leaf] = value.detach()
    elif type(original) in (list, tuple) and type(after) in (list, tuple) and depth < MAX_DEPTH:
        for a, b in zip(original, after):
            sync(a, b, depth + 1)
    elif type(original) is dict and type(after) is dict and depth < MAX_DEPTH:
        for key in original.keys() & after.keys():
            sync(original[key], after[key], depth + 1)
