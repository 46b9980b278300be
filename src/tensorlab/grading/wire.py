"""What crosses between the student's kernel and the grader: plain data, never code.

**In the kernel** (the grader sends a one-line cell that calls :func:`send_answers` or
:func:`send_call`): each value is turned by :func:`encode` into tensors, numbers, strings, lists,
tuples, ``torch.Size`` / ``dtype`` / ``device`` and small tagged dicts -- for ``...``, a NumPy value,
a dict or set, a model's parameters, a short sequence such as a dataset (its items), and a *kept
object* (a function, a model: anything else) which stays in the kernel under a number. The result is
``torch.save``d and published as display data of the type :data:`MIME`.

**In the grader**: :func:`loads` reads those bytes with ``torch.load(weights_only=True)``, PyTorch's
restricted unpickler that builds tensors and plain containers and refuses every other class, so no
object of the student's ever exists in the grader; :func:`decode` rebuilds the values within caps on
items, depth and tensor size. A kept object becomes a :class:`KernelObject` (or, for a model, a
:class:`KernelModule` holding its parameters as data): calling it runs the student's code in the
kernel, on the grader's arguments, and the result comes back as data again.

Everything here that runs in the kernel may be patched by the student; that only changes the data
sent back, which the grader then judges on its merits.
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
MAX_ITEMS = 1_000_000       # list items, dict entries, ... in one answer, counted on both sides
MAX_SEQUENCE = 1_000        # a dataset or other sequence travels as its items up to this length
MAX_ELEMENTS = 2**26        # a tensor the grader will compare (an expanded view can claim any size)


class WireError(ValueError):
    """Data that cannot be read (too large, too deep, or not what the protocol allows)."""


@dataclass(frozen=True)
class Ref:
    """An object of the kernel's, named by its number, in arguments the grader sends to the kernel."""

    oid: int


class _Budget:
    def __init__(self, items: int = MAX_ITEMS):
        self.left = items

    def spend(self, count: int = 1) -> None:
        self.left -= count
        if self.left < 0:
            raise WireError(f"it holds more than {MAX_ITEMS:,} items")


def _tagged(kind: str, **fields: Any) -> dict:
    return {TAG: kind, **fields}


# ---------------------------------------------------------------------------------------------
# in the kernel
# ---------------------------------------------------------------------------------------------

_KEPT: dict[int, Any] = {}


def _keep(value: Any) -> int:
    _KEPT[len(_KEPT) + 1] = value
    return len(_KEPT)


def _plain_tensor(value: torch.Tensor, with_grad: bool = True) -> Any:
    tensor = value.detach()
    if type(tensor) is not torch.Tensor:
        tensor = tensor.as_subclass(torch.Tensor)
    if value.requires_grad and (tensor.is_floating_point() or tensor.is_complex()):
        tensor = tensor.clone().requires_grad_(True)
    if with_grad and value.is_leaf and value.grad is not None:  # a parameter after backward()
        return _tagged("tensor", data=tensor, grad=_plain_tensor(value.grad, False))
    return tensor


def encode(value: Any, budget: _Budget | None = None, depth: int = 0) -> Any:
    """Turn ``value`` into plain data; objects that are not data are kept here and named."""
    budget = budget or _Budget()
    budget.spend()
    if depth > MAX_DEPTH:
        raise WireError("it is nested too deeply")
    if value is None or type(value) in (bool, int, float, complex, str, bytes):
        return value
    if value is Ellipsis:
        return _tagged("ellipsis")
    if isinstance(value, torch.Tensor):
        budget.spend(value.numel() // 1024)
        return _plain_tensor(value)
    if isinstance(value, torch.Size):
        return torch.Size(int(v) for v in value)
    if isinstance(value, (torch.device, torch.dtype)):
        return value
    if type(value).__module__.startswith("numpy"):
        import numpy as np

        if isinstance(value, np.ndarray) and value.dtype.kind in "biufc":
            budget.spend(value.size // 1024)
            try:
                return _tagged("ndarray", data=torch.from_numpy(value.astype(value.dtype.newbyteorder("="))))
            except TypeError:  # a dtype torch lacks: kept in the kernel like any object
                pass
        if isinstance(value, np.generic) and value.dtype.kind in "biufc":
            return _tagged("npscalar", dtype=str(value.dtype), value=value.item())
    for plain in (bool, int, float, str, bytes):  # subclasses (an IntEnum ...) travel as what they are
        if isinstance(value, plain):
            return plain(value) if plain is not int else int.__index__(value)
    if isinstance(value, torch.nn.Module):
        parameters, buffers = dict(value.named_parameters()), dict(value.named_buffers())
        budget.spend(len(parameters) + len(buffers))
        return _tagged("module", oid=_keep(value), type=type(value).__name__[:80],
                       parameters={k: _plain_tensor(t) for k, t in parameters.items()},
                       buffers={k: _plain_tensor(t, False) for k, t in buffers.items()})
    if isinstance(value, (list, tuple)):  # subclasses (a namedtuple ...) travel as plain ones
        budget.spend(len(value))
        items = [encode(v, budget, depth + 1) for v in value]
        return items if isinstance(value, list) else tuple(items)
    if type(value) is dict:
        budget.spend(len(value))
        return _tagged("dict", items=[(encode(k, budget, depth + 1), encode(v, budget, depth + 1))
                                      for k, v in value.items()])
    if type(value) in (set, frozenset):
        budget.spend(len(value))
        return _tagged("set", frozen=type(value) is frozenset, items=[encode(v, budget, depth + 1) for v in value])
    if not callable(value) and hasattr(value, "__len__") and hasattr(value, "__getitem__"):
        try:  # a dataset: its items, as the grader's hidden tests index and batch it
            if len(value) <= MAX_SEQUENCE:
                return _tagged("sequence", items=[encode(value[i], budget, depth + 1) for i in range(len(value))])
        except WireError:
            raise
        except Exception:  # not indexable after all: kept in the kernel like any object
            pass
    try:
        text = repr(value)[:200]
    except Exception:  # a repr that raises is the student's problem, not the grader's
        text = ""
    name = getattr(value, "__name__", None)
    return _tagged("object", oid=_keep(value), type=type(value).__name__[:80], text=text,
                   name=name[:80] if isinstance(name, str) else None)


def _publish(reply: Any) -> None:
    from IPython.display import publish_display_data

    buffer = io.BytesIO()
    torch.save(reply, buffer)
    publish_display_data({MIME: base64.b64encode(buffer.getvalue()).decode("ascii")})


def _error(error: BaseException) -> tuple[str, str]:
    from tensorlab.checking import one_line

    try:
        message = one_line(error)
    except Exception:  # a __str__ that raises
        message = ""
    return type(error).__name__[:80], message[:300]


def send_answers(expressions: dict[str, str]) -> None:
    """In the kernel: evaluate each answer expression in the notebook's namespace; publish
    ``[(key, ("value", data) or ("error", type, message)), ...]``."""
    from IPython import get_ipython

    namespace = get_ipython().user_ns
    reply = []
    for key, expression in expressions.items():
        try:
            reply.append((key, ("value", encode(eval(expression, namespace)))))  # the solution's expression
        except BaseException as error:
            reply.append((key, ("error", *_error(error))))
    _publish(reply)


def send_call(oid: int, arguments: str) -> None:
    """In the kernel: call kept object ``oid`` on the grader's arguments; publish the result and the
    arguments as the call left them (a model moved with ``net.to(device)``)."""
    args, kwargs = _from_refs(torch.load(io.BytesIO(base64.b64decode(arguments)), weights_only=False))
    try:
        result = _KEPT[oid](*args, **kwargs)
        reply = ("value", encode(result), encode((list(args), dict(kwargs))))
    except BaseException as error:
        reply = ("error", *_error(error))
    _publish(reply)


def _from_refs(value: Any) -> Any:
    if isinstance(value, Ref):
        return _KEPT[value.oid]
    if type(value) in (list, tuple):
        return type(value)(_from_refs(v) for v in value)
    if type(value) is dict:
        return {k: _from_refs(v) for k, v in value.items()}
    return value


# ---------------------------------------------------------------------------------------------
# in the grader
# ---------------------------------------------------------------------------------------------

class KernelObject:
    """A function (or other object) of the student's that stays in the kernel. ``call(oid, args,
    kwargs)`` is the grader's way of running it there; what comes back is data."""

    def __init__(self, call: Callable | None, oid: int, type_name: str, text: str, name: str | None):
        self._call, self._oid, self._text = call, oid, text
        self.__name__ = self.__qualname__ = name or type_name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._call is None:
            raise TypeError(f"'{type(self).__name__}' object cannot be called from the grader")
        return self._call(self._oid, args, kwargs)

    def __repr__(self) -> str:
        return self._text or f"<a {type(self).__name__} object>"


class KernelModule(torch.nn.Module):
    """A model of the student's: its parameters and buffers (with gradients) as data, so that
    ``net.parameters()`` or ``net.conv.weight.grad`` work here; calling it runs it in the kernel."""

    def __init__(self, call: Callable | None, oid: int, parameters: dict[str, torch.Tensor],
                 buffers: dict[str, torch.Tensor]):
        super().__init__()
        self._call, self._oid = call, oid
        for is_parameter, tensors in ((True, parameters), (False, buffers)):
            for name, tensor in tensors.items():
                owner = self
                *path, leaf = name.split(".")
                for part in path:
                    if part not in owner._modules:
                        owner.add_module(part, torch.nn.Module())
                    owner = owner._modules[part]
                if not is_parameter:
                    owner.register_buffer(leaf, tensor)
                    continue
                owner.register_parameter(leaf, torch.nn.Parameter(tensor.detach(), tensor.requires_grad))
                owner._parameters[leaf].grad = tensor.grad

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self._call is None:
            raise TypeError("the model cannot be run from here")
        return self._call(self._oid, args, kwargs)


def _named_like(base: type, type_name: str) -> type:
    """A subclass named like the student's type, so a check's sentence reads "it is a Linear"."""
    name = type_name if type_name.isidentifier() and not keyword.iskeyword(type_name) else base.__name__
    return type(name, (base,), {})


def loads(blob: bytes) -> Any:
    """Read wire bytes with PyTorch's restricted unpickler (``weights_only=True``)."""
    try:
        return torch.load(io.BytesIO(blob), weights_only=True)
    except RecursionError:
        raise WireError("it is nested too deeply") from None
    except Exception as error:  # anything the safe unpickler refuses
        found = re.search(r"GLOBAL ([\w.]+)", str(error))
        if found:
            raise WireError(f"it holds an object of class {found.group(1).rsplit('.', 1)[-1]}, which is not "
                            "plain data (a tensor, a number, a string, a list ...)") from None
        raise WireError("it is not plain data the grader can read safely") from None


def decode(data: Any, call: Callable | None = None, budget: _Budget | None = None, depth: int = 0) -> Any:
    """Rebuild a value from wire data within the caps; anything unexpected raises WireError."""
    budget = budget or _Budget()
    budget.spend()
    if depth > MAX_DEPTH + 2:
        raise WireError("it is nested too deeply")
    if data is None or type(data) in (bool, int, float, complex, str, bytes):
        return data
    if type(data) in (torch.Tensor, torch.nn.Parameter):
        return _checked(data, budget)
    if isinstance(data, torch.Size) or type(data) in (torch.device, torch.dtype):
        return data
    if type(data) in (list, tuple):
        budget.spend(len(data))
        return type(data)(decode(v, call, budget, depth + 1) for v in data)
    if type(data) is dict and isinstance(data.get(TAG), str):
        return _decode_tagged(data, call, budget, depth + 1)
    raise WireError(f"unexpected {type(data).__name__} in the data")


def _checked(tensor: Any, budget: _Budget) -> torch.Tensor:
    if type(tensor) not in (torch.Tensor, torch.nn.Parameter):
        raise WireError("a tensor that is not a tensor")
    if tensor.numel() > MAX_ELEMENTS:
        raise WireError(f"a tensor of {tensor.numel():,} elements is more than the grader compares "
                        f"({MAX_ELEMENTS:,})")
    budget.spend(tensor.numel() // 1024)
    return tensor.detach().requires_grad_(tensor.requires_grad) if tensor.requires_grad else tensor


def _decode_tagged(data: dict, call: Callable | None, budget: _Budget, depth: int) -> Any:
    kind = data[TAG]

    def inner(value: Any) -> Any:
        return decode(value, call, budget, depth)

    if kind == "ellipsis":
        return Ellipsis
    if kind in ("dict", "set", "sequence") and type(data.get("items")) is not list:
        raise WireError(f"a {kind} without its items")
    if kind == "dict":
        return {_hashable(inner(k)): inner(v) for k, v in data["items"]}
    if kind == "set":
        items = [_hashable(inner(v)) for v in data["items"]]
        return frozenset(items) if data.get("frozen") else set(items)
    if kind == "sequence":
        return [inner(v) for v in data["items"]]
    if kind == "ndarray":
        return _checked(data.get("data"), budget).numpy()
    if kind == "npscalar":
        import numpy as np

        if type(data.get("value")) not in (bool, int, float, complex):
            raise WireError("a NumPy scalar without a number")
        return np.dtype(str(data.get("dtype"))).type(data["value"])
    if kind == "tensor":
        tensor, grad = _checked(data.get("data"), budget), _checked(data.get("grad"), budget)
        tensor = tensor.detach().requires_grad_(True)
        tensor.grad = grad
        return tensor
    oid, type_name = data.get("oid"), str(data.get("type", "object"))[:80]
    if type(oid) is not int:
        raise WireError("a kept object without its number")
    if kind == "module":
        parts = [data.get("parameters"), data.get("buffers")]
        if not all(type(part) is dict and all(type(k) is str for k in part) for part in parts):
            raise WireError("a model's state that is not a dict of tensors")
        parameters, buffers = [{k: inner(v) for k, v in part.items()} for part in parts]
        if not all(isinstance(t, torch.Tensor) for t in [*parameters.values(), *buffers.values()]):
            raise WireError("a model's state that is not a dict of tensors")
        return _named_like(KernelModule, type_name)(call, oid, parameters, buffers)
    if kind == "object":
        name = data.get("name")
        return _named_like(KernelObject, type_name)(call, oid, type_name, str(data.get("text", ""))[:200],
                                                   name[:80] if isinstance(name, str) else None)
    raise WireError(f"unknown kind of value {kind!r}")


def _hashable(value: Any) -> Any:
    try:
        hash(value)
    except TypeError:
        raise WireError("a dict key or set item that cannot be hashed") from None
    return value


def dumps_arguments(args: tuple, kwargs: dict) -> str:
    """The grader's arguments for a call in the kernel (kept objects travel as their numbers)."""
    def to_refs(value: Any) -> Any:
        if isinstance(value, (KernelObject, KernelModule)):
            return Ref(value._oid)
        if type(value) in (list, tuple):
            return type(value)(to_refs(v) for v in value)
        if type(value) is dict:
            return {k: to_refs(v) for k, v in value.items()}
        return value

    buffer = io.BytesIO()
    torch.save(to_refs((list(args), dict(kwargs))), buffer)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def remote_exception(type_name: str, message: str) -> Exception:
    """An exception standing for one raised in the kernel: a built-in one keeps its class (a check
    reads NotImplementedError as "not attempted"), any other gets a look-alike of that name."""
    builtin = getattr(builtins, type_name, None)
    if isinstance(builtin, type) and issubclass(builtin, Exception):
        try:
            return builtin(message)
        except TypeError:
            pass
    return type(type_name if type_name.isidentifier() else "Exception", (Exception,), {})(message)


def sync(original: Any, after: Any, depth: int = 0) -> None:
    """Copy into the grader's own arguments what the student's function did to them in the kernel:
    a model moved (``net.to(device)``) or converted, a tensor changed in place."""
    if depth > MAX_DEPTH:
        return
    if isinstance(original, torch.nn.Module) and isinstance(after, KernelModule):
        for name, value in after.state_dict(keep_vars=True).items():
            owner_name, _, leaf = name.rpartition(".")
            owner = original.get_submodule(owner_name) if owner_name else original
            holder = owner._parameters if leaf in owner._parameters else owner._buffers
            if holder.get(leaf) is not None:
                new = value.detach()
                holder[leaf] = torch.nn.Parameter(new, holder[leaf].requires_grad) if holder is owner._parameters else new
    elif isinstance(original, torch.Tensor) and isinstance(after, torch.Tensor):
        if (original.shape, original.dtype, original.device) == (after.shape, after.dtype, after.device) \
                and original.device.type != "meta":
            with torch.no_grad():
                original.copy_(after)
    elif isinstance(original, (list, tuple)) and isinstance(after, (list, tuple)) and len(original) == len(after):
        for a, b in zip(original, after):
            sync(a, b, depth + 1)
    elif isinstance(original, dict) and isinstance(after, dict):
        for key in original.keys() & after.keys():
            sync(original[key], after[key], depth + 1)
