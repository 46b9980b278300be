"""What crosses between the student's kernel and the judge.

**Kernel to judge: plain data, never code.** The kernel turns each value with :func:`encode` into
tensors, numbers, strings, ``None``, lists, tuples, ``torch.Size`` / ``torch.device`` /
``torch.dtype``, and small tagged dictionaries for the rest: the ``...`` placeholder, a NumPy array,
and a *reference* to any other object (a function, a model, a dataset ...), which stays in the
kernel under an id. :func:`dumps` writes that with ``torch.save``; the judge reads it with
:func:`loads`, i.e. ``torch.load(..., weights_only=True)``: PyTorch's restricted unpickler builds
tensors and plain containers and refuses every other class, so nothing from the student's process
ever runs in the judge. :func:`decode` rebuilds the tagged values; a reference becomes a
:class:`RemoteObject`, whose calls, attributes, items, length and iteration are forwarded to the
kernel and come back as data again.

**Judge to kernel: the judge's own values** (test cases, which may hold a model), pickled as they
are: the kernel trusts the judge, not the other way round. A :class:`RemoteObject` among them
travels as a :class:`Ref` and is swapped back for the kernel's object.

After a call, the kernel also sends back the arguments as the function left them (a model as its
parameters and buffers), and :func:`sync` copies that into the judge's arguments, so a check that
looks at an argument after the call (``net.to(device)`` moves a model in place) sees what the
student's function did to it.
"""

from __future__ import annotations

import io
import keyword
import pickle
import re
from dataclasses import dataclass
from typing import Any, Callable

import torch

TAG = "__tensorlab_wire__"
MAX_DEPTH = 32
MAX_ITEMS = 100_000
MAX_ELEMENTS = 2**26  # a tensor the judge will compare (an expanded view can claim any size)


class WireError(ValueError):
    """Data that cannot be read (too large, too deep, or not what the protocol allows)."""


@dataclass(frozen=True)
class Ref:
    """A judge-side stand-in for an object that lives in the kernel (see :class:`RemoteObject`)."""

    oid: int


class RemoteObject:
    """An object that lives in the student's kernel. ``session(self, op, args, kwargs)`` is set by
    the judge's session and performs the operation in the kernel."""

    def __init__(self, oid: int, type_name: str, text: str, is_callable: bool, name: str | None = None,
                 session: Callable[..., Any] | None = None):
        self._oid, self._type_name, self._text = oid, type_name, text
        self._callable, self._session = is_callable, session
        self.key, self.generation = None, 0
        self.__name__ = self.__qualname__ = name or type_name

    def _do(self, op: str, *args: Any, **kwargs: Any) -> Any:
        if self._session is None:
            raise RuntimeError(f"{self.__name__} lives in a kernel that is gone")
        return self._session(self, op, args, kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not self._callable:
            raise TypeError(f"'{self._type_name}' object is not callable")
        return self._do("call", *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._do("getattr", name)

    def __getitem__(self, key: Any) -> Any:
        return self._do("getitem", key)

    def __len__(self) -> int:
        value = self._do("len")
        if type(value) is not int:
            raise TypeError("len() of the student's object did not give an int")
        return value

    def __iter__(self):
        iterator = self._do("iter")
        while True:
            try:
                yield iterator._do("next") if isinstance(iterator, RemoteObject) else next(iterator)
            except StopIteration:
                return

    def __bool__(self) -> bool:
        return bool(self._do("bool")) if not self._callable else True

    def __deepcopy__(self, memo: dict) -> Any:
        return self._do("deepcopy")

    def __copy__(self) -> Any:
        return self._do("deepcopy")

    def __repr__(self) -> str:
        return self._text or f"<a {self._type_name} object>"


def remote_class(type_name: str) -> type:
    """A RemoteObject subclass named like the student's type, so that ``type(value).__name__``
    reads in a check's sentence as it would in the notebook ("it is a Linear")."""
    name = type_name if type_name.isidentifier() and not keyword.iskeyword(type_name) else "object"
    return type(name, (RemoteObject,), {})


# ---------------------------------------------------------------------------------------------
# encode (in the kernel, on the student's values)
# ---------------------------------------------------------------------------------------------

def _tagged(kind: str, **fields: Any) -> dict:
    return {TAG: kind, **fields}


def _plain_tensor(value: torch.Tensor, with_grad: bool = False) -> Any:
    tensor = value.detach()
    if type(tensor) is not torch.Tensor:
        tensor = tensor.as_subclass(torch.Tensor)
    if value.requires_grad and (tensor.is_floating_point() or tensor.is_complex()):
        tensor = tensor.clone().requires_grad_(True)
    if with_grad and value.is_leaf and value.grad is not None:  # a parameter after backward()
        return _tagged("tensor", data=tensor, grad=_plain_tensor(value.grad))
    return tensor


def encode(value: Any, register: Callable[[Any], int] | None = None, _depth: int = 0, *,
           modules_as_state: bool = False) -> Any:
    """Turn ``value`` into wire data. ``register(obj)`` keeps an object in the kernel and returns
    its id; without it, such objects are only described."""
    if _depth > MAX_DEPTH:
        return _tagged("object", oid=None, type="deeply nested value", text="", callable=False)
    if value is None or type(value) in (bool, int, float, complex, str, bytes):
        return value
    if value is Ellipsis:
        return _tagged("ellipsis")
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, bytes):
        return bytes(value)
    if isinstance(value, torch.Tensor):
        return _plain_tensor(value, with_grad=True)
    if isinstance(value, torch.Size):
        return torch.Size(int(v) for v in value)
    if isinstance(value, (torch.device, torch.dtype)):
        return value
    numpy_value = _encode_numpy(value)
    if numpy_value is not None:
        return numpy_value
    if isinstance(value, int):  # an int subclass (an IntEnum ...) travels as the int it is
        return int.__index__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if modules_as_state and isinstance(value, torch.nn.Module):
        state = {name: _plain_tensor(t) for name, t in
                 [*value.named_parameters(recurse=True), *value.named_buffers(recurse=True)] if t is not None}
        return _tagged("module_state", state=state)
    if isinstance(value, (list, tuple)):  # subclasses (a namedtuple ...) travel as plain ones
        if len(value) > MAX_ITEMS:
            return _reference(value, register)
        items = [encode(v, register, _depth + 1, modules_as_state=modules_as_state) for v in value]
        return items if isinstance(value, list) else tuple(items)
    if type(value) is dict:
        if len(value) > MAX_ITEMS:
            return _reference(value, register)
        return _tagged("dict", items=[(encode(k, register, _depth + 1), encode(v, register, _depth + 1,
                                                                              modules_as_state=modules_as_state))
                                      for k, v in value.items()])
    if type(value) in (set, frozenset):
        return _tagged("set", frozen=isinstance(value, frozenset),
                       items=[encode(v, register, _depth + 1) for v in value])
    return _reference(value, register)


def _reference(value: Any, register: Callable[[Any], int] | None) -> dict:
    try:
        text = repr(value)[:200]
    except Exception:  # noqa: BLE001 - a repr that raises is the student's problem, not ours
        text = ""
    name = getattr(value, "__name__", None)
    return _tagged("object", oid=register(value) if register is not None else None,
                   type=type(value).__name__[:80], text=text, callable=callable(value),
                   name=name[:80] if isinstance(name, str) else None)


def _encode_numpy(value: Any) -> Any:
    module = type(value).__module__ or ""
    if not module.startswith("numpy"):
        return None
    import numpy as np

    if isinstance(value, np.ndarray):
        if value.dtype.kind in "biufc" and value.dtype.byteorder in "=|<":
            try:
                return _tagged("ndarray", data=torch.from_numpy(np.ascontiguousarray(value).copy()))
            except TypeError:  # a dtype torch lacks: fall back to a list
                pass
        if value.dtype.kind in "biufcUS" and value.size <= MAX_ITEMS:
            return _tagged("ndarray_list", data=value.tolist(), dtype=str(value.dtype))
        return None
    if isinstance(value, np.generic) and value.dtype.kind in "biufc":
        return _tagged("npscalar", dtype=str(value.dtype), value=value.item())
    return None


# ---------------------------------------------------------------------------------------------
# decode (in the judge, on what torch.load(weights_only=True) produced)
# ---------------------------------------------------------------------------------------------

def decode(data: Any, make_object: Callable[[dict], Any] | None = None, _depth: int = 0) -> Any:
    """Rebuild a value from wire data; anything unexpected raises :class:`WireError`.
    ``make_object(tag)`` builds the judge's stand-in for a kernel object."""
    if _depth > MAX_DEPTH + 2:
        raise WireError("the value is nested too deeply")
    if data is None or type(data) in (bool, int, float, complex, str, bytes):
        return data
    if type(data) in (torch.Tensor, torch.nn.Parameter):
        return _checked(data).detach().requires_grad_(data.requires_grad) if data.requires_grad else _checked(data)
    if isinstance(data, torch.Size) or type(data) in (torch.device, torch.dtype):
        return data
    if type(data) is list:
        return [decode(v, make_object, _depth + 1) for v in data]
    if type(data) is tuple:
        return tuple(decode(v, make_object, _depth + 1) for v in data)
    if type(data) is dict and isinstance(data.get(TAG), str):
        return _decode_tagged(data, make_object, _depth)
    raise WireError(f"unexpected {type(data).__name__} in the data")


@dataclass
class ModuleState:
    """A model's parameters and buffers, as a kernel sent them back after a call."""

    state: dict


def _checked(tensor: torch.Tensor) -> torch.Tensor:
    if tensor.numel() > MAX_ELEMENTS:
        raise WireError(f"a tensor of {tensor.numel():,} elements is more than the grader compares "
                        f"({MAX_ELEMENTS:,})")
    return tensor


def _decode_tagged(data: dict, make_object, depth: int) -> Any:
    kind = data[TAG]
    if kind == "ellipsis":
        return Ellipsis
    if kind == "dict":
        return {_hashable(decode(k, make_object, depth + 1)): decode(v, make_object, depth + 1)
                for k, v in data["items"]}
    if kind == "set":
        items = [_hashable(decode(v, make_object, depth + 1)) for v in data["items"]]
        return frozenset(items) if data.get("frozen") else set(items)
    if kind == "ndarray":
        tensor = data["data"]
        if type(tensor) is not torch.Tensor:
            raise WireError("an array without its data")
        return _checked(tensor).numpy()
    if kind == "ndarray_list":
        import numpy as np

        return np.array(decode(data["data"], None, depth + 1), dtype=np.dtype(str(data["dtype"])))
    if kind == "npscalar":
        import numpy as np

        value = data["value"]
        if type(value) not in (bool, int, float, complex):
            raise WireError("a NumPy scalar without a number")
        return np.dtype(str(data["dtype"])).type(value)
    if kind == "tensor":
        tensor, grad = data.get("data"), data.get("grad")
        if type(tensor) is not torch.Tensor or type(grad) is not torch.Tensor:
            raise WireError("a tensor with a gradient that is not a tensor")
        tensor = _checked(tensor).detach().requires_grad_(True)
        tensor.grad = _checked(grad)
        return tensor
    if kind == "module_state":
        state = data.get("state")
        if type(state) is not dict or not all(type(k) is str and type(v) in (torch.Tensor, torch.nn.Parameter)
                                              for k, v in state.items()):
            raise WireError("a model's state that is not a dict of tensors")
        return ModuleState({k: _checked(v) for k, v in state.items()})
    if kind == "object":
        tag = {"oid": data.get("oid"), "type": str(data.get("type", "object"))[:80],
               "text": str(data.get("text", ""))[:200], "callable": bool(data.get("callable")),
               "name": str(data["name"])[:80] if isinstance(data.get("name"), str) else None}
        if tag["oid"] is not None and type(tag["oid"]) is not int:
            raise WireError("an object reference without an id")
        if make_object is not None:
            return make_object(tag)
        return remote_class(tag["type"])(tag["oid"] or 0, tag["type"], tag["text"], tag["callable"], tag["name"])
    raise WireError(f"unknown kind of value {kind!r}")


def _hashable(value: Any) -> Any:
    try:
        hash(value)
    except TypeError:
        raise WireError("a dict key or set item that cannot be hashed") from None
    return value


# ---------------------------------------------------------------------------------------------
# judge -> kernel
# ---------------------------------------------------------------------------------------------

def to_refs(value: Any, _depth: int = 0) -> Any:
    """The judge's arguments with every RemoteObject replaced by its Ref (lists, tuples, dicts)."""
    if isinstance(value, RemoteObject):
        return Ref(value._oid)
    if _depth > MAX_DEPTH:
        return value
    if type(value) in (list, tuple):
        return type(value)(to_refs(v, _depth + 1) for v in value)
    if type(value) is dict:
        return {k: to_refs(v, _depth + 1) for k, v in value.items()}
    return value


def from_refs(value: Any, objects: dict[int, Any], _depth: int = 0) -> Any:
    """In the kernel: swap each Ref back for the object it names."""
    if isinstance(value, Ref):
        if value.oid not in objects:
            raise LookupError("the grader referred to an object this kernel does not have")
        return objects[value.oid]
    if _depth > MAX_DEPTH:
        return value
    if type(value) in (list, tuple):
        return type(value)(from_refs(v, objects, _depth + 1) for v in value)
    if type(value) is dict:
        return {k: from_refs(v, objects, _depth + 1) for k, v in value.items()}
    return value


def dumps_trusted(value: Any) -> bytes:
    """The judge's own values, pickled in full (only the kernel reads this)."""
    buffer = io.BytesIO()
    torch.save(value, buffer, pickle_protocol=pickle.HIGHEST_PROTOCOL)
    return buffer.getvalue()


def loads_trusted(blob: bytes) -> Any:
    """In the kernel: the judge's values (the judge is trusted, so a full unpickle is fine)."""
    return torch.load(io.BytesIO(blob), weights_only=False)


def sync(original: Any, after: Any, _depth: int = 0) -> None:
    """Copy what the kernel's function did to its arguments into the judge's own arguments."""
    if _depth > MAX_DEPTH:
        return
    if isinstance(original, torch.nn.Module) and isinstance(after, ModuleState):
        for name, tensor in after.state.items():
            _sync_module_tensor(original, name, tensor)
        return
    if isinstance(original, torch.Tensor) and isinstance(after, torch.Tensor):
        _sync_tensor(original, after)
        return
    if isinstance(original, (list, tuple)) and isinstance(after, (list, tuple)) and len(original) == len(after):
        for a, b in zip(original, after):
            sync(a, b, _depth + 1)
        return
    if isinstance(original, dict) and isinstance(after, dict):
        for key in original.keys() & after.keys():
            sync(original[key], after[key], _depth + 1)


def _sync_module_tensor(module: torch.nn.Module, name: str, value: torch.Tensor) -> None:
    owner_name, _, leaf = name.rpartition(".")
    try:
        owner = module.get_submodule(owner_name) if owner_name else module
    except AttributeError:
        return
    if leaf in owner._parameters and owner._parameters[leaf] is not None:
        old = owner._parameters[leaf]
        if (old.shape, old.dtype, old.device) == (value.shape, value.dtype, value.device):
            _sync_tensor(old, value)
        else:  # moved (net.to(device)) or converted (net.double()): the module holds a new parameter
            owner._parameters[leaf] = torch.nn.Parameter(value.detach(), requires_grad=old.requires_grad)
    elif leaf in owner._buffers and owner._buffers[leaf] is not None:
        old = owner._buffers[leaf]
        if (old.shape, old.dtype, old.device) == (value.shape, value.dtype, value.device):
            _sync_tensor(old, value)
        else:
            owner._buffers[leaf] = value.detach()


def _sync_tensor(target: torch.Tensor, value: torch.Tensor) -> None:
    try:
        if target.shape == value.shape and target.dtype == value.dtype and target.device == value.device:
            if target.device.type != "meta":
                with torch.no_grad():
                    target.copy_(value)
        else:
            target.data = value.detach()
    except RuntimeError:
        pass  # a change the judge cannot mirror (e.g. a new dtype of a plain tensor)


# ---------------------------------------------------------------------------------------------
# bytes
# ---------------------------------------------------------------------------------------------

def dumps(data: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(data, buffer)
    return buffer.getvalue()


def loads(blob: bytes) -> Any:
    """Read wire bytes with PyTorch's restricted unpickler (``weights_only=True``)."""
    try:
        return torch.load(io.BytesIO(blob), weights_only=True)
    except RecursionError:
        raise WireError("the value is nested too deeply") from None
    except Exception as error:  # noqa: BLE001 - anything the safe unpickler refuses
        found = re.search(r"GLOBAL ([\w.]+)", str(error))
        if found:
            name = found.group(1).rsplit(".", 1)[-1]
            raise WireError(f"it holds an object of class {name}, which is not plain data "
                            "(a tensor, a number, a string, a list ...)") from None
        raise WireError("it is not plain data the grader can read safely") from None


__all__ = ["encode", "decode", "dumps", "loads", "dumps_trusted", "loads_trusted", "to_refs", "from_refs",
           "sync", "Ref", "RemoteObject", "ModuleState", "WireError"]
