"""pickled_class: the class of a pickled value, read from its opcodes; nothing is run or built.

Unpickling calls whatever the pickle names (``os.system``, say) and builds
whatever it describes (an 8-byte buffer declared as 2**40 items, a BUILD
that sets attributes of a class): it runs code by design. This module never
unpickles. It walks the opcodes (:mod:`pickletools`) with a stack of
descriptions instead of values, and says which class the top-level value
would be an instance of:

- literal opcodes (``EMPTY_DICT``, ``BINUNICODE``, ``TUPLE2`` ...) give their
  builtin type; ``BUILD``, ``APPEND(S)``, ``SETITEM(S)`` leave it as it is;
- ``NEWOBJ``/``NEWOBJ_EX``/``INST``/``OBJ`` and ``REDUCE`` of a class give
  that class; ``REDUCE`` of a known rebuilding function (``copyreg``'s,
  numpy's, pandas') gives the class that function returns;
- anything else (``REDUCE`` of any other function, persistent ids, the
  extension registry, out-of-band buffers) cannot be judged and is refused.

Names are looked up as strings in modules already imported (``sys.modules``),
in their ``__dict__``: a module the pickle names is never imported and no
module ``__getattr__`` runs. This module is pure: no I/O.
"""

from __future__ import annotations

import _compat_pickle
import pickle
import pickletools
import sys
from typing import Any


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle's top-level class cannot be judged from its opcodes; nothing was run."""


class _Of:
    """A stack entry: an instance of ``cls`` (a class or a (module, qualname) pair), or a name."""

    __slots__ = ("cls", "exact", "global_name", "text")

    def __init__(
        self,
        cls: Any = None,  # a type, or (module, qualname) of a class not resolved yet
        exact: bool = True,  # False: an instance of some subclass of cls
        text: str | None = None,  # a str literal's value (for STACK_GLOBAL), or a function
        global_name: tuple[str, str] | None = None,  # a GLOBAL: the object named, not an instance
    ) -> None:
        self.cls, self.exact, self.text, self.global_name = cls, exact, text, global_name


_MARK = _Of()
_UNKNOWN = _Of(cls=None)

# Functions that rebuild a value, by where they live, and what they return:
# "arg0" an instance of their first argument (a class), else the class named.
_REBUILDERS: dict[tuple[str, str], Any] = {
    ("copyreg", "_reconstructor"): "arg0",
    ("_codecs", "encode"): ("builtins", "bytes"),  # bytes in protocols 0-2
    ("copyreg", "__newobj__"): "arg0",
    ("numpy._core.multiarray", "_reconstruct"): "arg0",
    ("numpy._core.numeric", "_frombuffer"): ("numpy", "ndarray"),
    ("numpy._core.multiarray", "scalar"): ("numpy", "generic", False),
    ("pandas._libs.tslibs.timestamps", "_unpickle_timestamp"): (
        "pandas._libs.tslibs.timestamps",
        "Timestamp",
    ),
    ("pandas._libs.tslibs.timedeltas", "_timedelta_unpickle"): (
        "pandas._libs.tslibs.timedeltas",
        "Timedelta",
    ),
    ("pandas.core.indexes.base", "_new_Index"): "arg0",
    ("pandas.core.indexes.datetimes", "_new_DatetimeIndex"): "arg0",
    ("pandas.core.indexes.period", "_new_PeriodIndex"): "arg0",
}
# numpy 1.x wrote its rebuilding functions under numpy.core.
_MOVED = {
    "numpy.core.multiarray": "numpy._core.multiarray",
    "numpy.core.numeric": "numpy._core.numeric",
}
_STR_OPS = {"UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8"}
_REFUSED_OPS = {"PERSID", "BINPERSID", "EXT1", "EXT2", "EXT4", "NEXT_BUFFER"}
_IN_PLACE_OPS = {"BUILD", "APPEND", "APPENDS", "SETITEM", "SETITEMS", "ADDITEMS", "READONLY_BUFFER"}


def _home(module: str, name: str) -> tuple[str, str]:
    """Where ``module.name`` lives now: Python 2's names (protocols 0-2) and numpy's moves."""
    module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
    module = _compat_pickle.IMPORT_MAPPING.get(module, module)
    return _MOVED.get(module, module), name


def resolve(module: str, qualname: str) -> Any:
    """The object ``module.qualname`` if its module is already imported, else None.

    Looks in ``__dict__``s only: imports nothing and runs no ``__getattr__``.
    """
    obj: Any = sys.modules.get(module)
    for part in qualname.split("."):
        if obj is None:
            return None
        try:
            obj = vars(obj).get(part)
        except TypeError:  # an object without __dict__
            return None
    return obj


class _Walk:
    def __init__(self) -> None:
        self.stack: list[_Of] = []
        self.memo: dict[int, _Of] = {}
        self.tuples: dict[int, tuple[_Of, list[_Of]]] = {}  # id of a tuple entry -> it, its items

    def top(self) -> _Of:
        if not self.stack or self.stack[-1] is _MARK:
            raise UnsafePickleError("malformed pickle: the stack runs empty")
        return self.stack[-1]

    def pop(self) -> _Of:
        if not self.stack or self.stack[-1] is _MARK:
            raise UnsafePickleError("malformed pickle: the stack runs empty")
        return self.stack.pop()

    def pop_mark(self) -> list[_Of]:
        items: list[_Of] = []
        while True:
            if not self.stack:
                raise UnsafePickleError("malformed pickle: no mark on the stack")
            item = self.stack.pop()
            if item is _MARK:
                return items[::-1]
            items.append(item)

    def instance_of(self, callee: _Of, args: list[_Of]) -> _Of:
        """What calling ``callee`` (a GLOBAL) gives, judged by name."""
        if callee.global_name is None:
            return _UNKNOWN
        module, name = callee.global_name
        rebuilt = _REBUILDERS.get((module, name))
        if rebuilt == "arg0":
            first = args[0] if args else _UNKNOWN
            return _Of(first.global_name) if first.global_name else _UNKNOWN
        if rebuilt is not None:
            return _Of(rebuilt[:2], exact=len(rebuilt) == 2)
        target = resolve(module, name)
        if target is None or isinstance(target, type):
            return _Of((module, name))  # a name not found stays one: "not imported"
        return _Of(text=f"{module}.{name}")  # a function's result: named in the refusal

    def step(self, op: pickletools.OpcodeInfo, arg: Any) -> None:
        name = op.name
        spec = _LITERALS.get(name)
        if spec is not None:  # the common case: a literal or a container, by its spec
            self.literal(*spec)
            return
        if name in _REFUSED_OPS:
            raise UnsafePickleError(f"a pickle with {name} cannot be judged without running it")
        if name in ("PROTO", "FRAME", "STOP"):
            return
        if name == "MARK":
            self.stack.append(_MARK)
        elif name == "POP":
            if not self.stack:
                raise UnsafePickleError("malformed pickle: the stack runs empty")
            self.stack.pop()  # an item, or the last mark, as pickle does
        elif name == "POP_MARK":
            self.pop_mark()
        elif name == "DUP":
            self.stack.append(self.top())
        elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
            self.memo[int(arg)] = self.top()
        elif name == "MEMOIZE":
            self.memo[len(self.memo)] = self.top()
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            if int(arg) not in self.memo:
                raise UnsafePickleError(f"malformed pickle: memo {arg} read before written")
            self.stack.append(self.memo[int(arg)])
        elif name in _STR_OPS:
            self.stack.append(_Of(str, text=arg))
        elif name == "FROZENSET":  # pickletools describes its result as a set
            self.pop_mark()
            self.stack.append(_Of(frozenset))
        elif name == "INT":  # protocol 0 writes True and False as INT 01 and 00
            self.stack.append(_Of(type(arg)))
        elif name in ("GLOBAL", "STACK_GLOBAL"):
            if name == "GLOBAL":
                module, _, qualname = arg.partition(" ")
            else:
                qual, mod = self.pop(), self.pop()
                if mod.text is None or qual.text is None:
                    raise UnsafePickleError("malformed pickle: STACK_GLOBAL of non-strings")
                module, qualname = mod.text, qual.text
            self.stack.append(_Of(global_name=_home(module, qualname)))
        elif name in ("REDUCE", "NEWOBJ"):
            args, callee = self.pop(), self.pop()
            if name == "NEWOBJ":
                self.stack.append(_Of(callee.global_name) if callee.global_name else _UNKNOWN)
            else:
                # The arguments' tuple is described by its type only: rebuilders whose
                # result is their first argument are judged from the GLOBAL before it.
                self.stack.append(
                    self.instance_of(callee, self.tuples.get(id(args), (args, []))[1])
                )
        elif name == "NEWOBJ_EX":
            self.pop()
            self.pop()
            callee = self.pop()
            self.stack.append(_Of(callee.global_name) if callee.global_name else _UNKNOWN)
        elif name == "INST":
            self.pop_mark()
            module, _, qualname = arg.partition(" ")
            self.stack.append(_Of(_home(module, qualname)))
        elif name == "OBJ":
            items = self.pop_mark()
            callee = items[0] if items else _UNKNOWN
            self.stack.append(_Of(callee.global_name) if callee.global_name else _UNKNOWN)
        elif name in _IN_PLACE_OPS:
            if name in ("APPENDS", "SETITEMS", "ADDITEMS"):
                self.pop_mark()
            else:
                for _ in op.stack_before[1:]:
                    self.pop()
            self.top()
        else:
            raise UnsafePickleError(f"malformed pickle: unexpected {name}")

    def literal(self, takes_mark: bool, takes: int, made: type | None) -> None:
        """Pop what the opcode takes, push the type it makes (None: not a class it names)."""
        taken = self.pop_mark() if takes_mark else [self.pop() for _ in range(takes)][::-1]
        if made is tuple:  # remember what a tuple holds: a rebuilder's first argument
            entry = _Of(tuple)
            self.tuples[id(entry)] = (entry, taken)
        else:
            entry = _Of(made) if made is not None else _UNKNOWN
        self.stack.append(entry)


def _literal_spec(op: pickletools.OpcodeInfo) -> tuple[bool, int, type | None] | None:
    """(takes a mark, items taken, type made) for an opcode that pushes one new value."""
    before, after = op.stack_before, op.stack_after
    if op.name in _SPECIAL or len(after) != 1:
        return None
    obtype = after[0].obtype
    made = obtype if isinstance(obtype, type) and obtype is not object else None
    marked = bool(before) and before[0] is pickletools.markobject
    return marked, 0 if marked else len(before), made


_SPECIAL = {
    *_REFUSED_OPS, *_STR_OPS, *_IN_PLACE_OPS, "PROTO", "FRAME", "STOP", "MARK", "POP",
    "POP_MARK", "DUP", "PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE", "GET", "BINGET",
    "LONG_BINGET", "INT", "FROZENSET", "GLOBAL", "STACK_GLOBAL", "REDUCE", "NEWOBJ",
    "NEWOBJ_EX", "INST", "OBJ",
}  # fmt: skip
_LITERALS = {
    op.name: spec for op in pickletools.opcodes if (spec := _literal_spec(op)) is not None
}


def pickled_class(data: bytes | bytearray | memoryview) -> tuple[type, bool]:
    """The class of the value pickled in ``data``, judged from its opcodes, and whether exactly.

    ``(C, True)``: the value would be an instance of ``C``; ``(C, False)``:
    of ``C`` or a subclass. Raises :class:`UnsafePickleError` (a
    ``pickle.UnpicklingError``) when the opcodes cannot say, or a class they
    name is not imported in this process; nothing is imported, built or run.

    >>> pickled_class(pickle.dumps({"a": [1, 2.5]}))
    (<class 'dict'>, True)
    >>> import os
    >>> pickled_class(pickle.dumps(os.getcwd))
    Traceback (most recent call last):
    ...
    persidict.safe_pickle.UnsafePickleError: the pickle's value is not an instance of a class ...
    """
    walk = _Walk()
    try:
        for op, arg, _ in pickletools.genops(bytes(data)):
            walk.step(op, arg)
    except UnsafePickleError:
        raise
    except Exception as exc:  # a truncated or malformed opcode stream
        raise UnsafePickleError(f"malformed pickle: {exc}") from None
    if len(walk.stack) != 1:
        raise UnsafePickleError("malformed pickle: it does not end with one value")
    top = walk.stack[0]
    if top.cls is None:
        what = f"what {top.text} returns" if top.text else "not an instance of a class it names"
        raise UnsafePickleError(
            f"the pickle's value is {what}: it cannot be judged without running it"
        )
    if isinstance(top.cls, type):
        return top.cls, top.exact
    module, qualname = top.cls
    cls = resolve(module, qualname)
    if not isinstance(cls, type):
        raise UnsafePickleError(
            f"the pickle's value is a {module}.{qualname}, which is not a class imported "
            "in this process: it is never imported to judge it"
        )
    return cls, top.exact


# Opcodes that name or reach code: a class or function, the extension registry,
# objects handed in from outside the stream.
_NAMING = frozenset({
    "GLOBAL", "STACK_GLOBAL", "REDUCE", "BUILD", "INST", "OBJ", "NEWOBJ", "NEWOBJ_EX",
    "EXT1", "EXT2", "EXT4", "PERSID", "BINPERSID", "NEXT_BUFFER", "READONLY_BUFFER",
})  # fmt: skip


def plain_loads(data: bytes | bytearray | memoryview) -> Any:
    """The value of a pickle of plain builtins only (dict, list, str, bytes, numbers ...).

    Its opcodes are read first (nothing run): a pickle naming any class or
    function is an UnsafePickleError naming the opcode and its argument, and
    nothing is unpickled. Such a pickle builds no more than its own bytes hold
    (shared references are not copies), so a small file cannot explode.

    >>> plain_loads(pickle.dumps({"a": [1, 2.5]}))
    {'a': [1, 2.5]}
    """
    texts: list[str] = []  # the last strings pushed: STACK_GLOBAL's module and name
    try:
        for op, arg, pos in pickletools.genops(bytes(data)):
            if isinstance(arg, str):
                texts = [*texts[-1:], arg]
            if op.name in _NAMING:
                if op.name == "GLOBAL":
                    what = str(arg).replace(" ", ".", 1)
                elif op.name == "STACK_GLOBAL" and len(texts) == 2:
                    what = ".".join(texts)
                else:
                    what = f"{op.name} at byte {pos}"
                raise UnsafePickleError(
                    f"refused to load {what}: a pickle naming code does not load as data "
                    "(only plain builtins do)"
                )
    except UnsafePickleError:
        raise
    except Exception as exc:  # a malformed stream
        raise UnsafePickleError(f"not a pickle: {exc}") from None
    return pickle.loads(data)


__all__ = ["UnsafePickleError", "pickled_class", "plain_loads", "resolve"]
