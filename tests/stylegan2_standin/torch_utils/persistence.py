"""Stand-in persistence: pickles of decorated classes carry their module source.

Unpickling executes that source in a fresh module, so a pickle loads without
the module that defined the class, as long as what the source imports exists.
"""

import copy
import inspect
import sys
import types
import uuid

_source_by_module = {}  # name of an executed module -> its source
_module_by_source = {}  # source -> executed module


def persistent_class(cls):
    module = sys.modules[cls.__module__]
    source = _source_by_module.get(module.__name__) or inspect.getsource(module)

    class Persistent(cls):
        _module_source = source
        _class_name = cls.__name__

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._init_args = copy.deepcopy(args)
            self._init_kwargs = copy.deepcopy(kwargs)

        @property
        def init_args(self):
            return copy.deepcopy(self._init_args)

        @property
        def init_kwargs(self):
            return copy.deepcopy(self._init_kwargs)

        def __reduce__(self):
            meta = {
                "module_src": self._module_source,
                "class_name": self._class_name,
                "state": self.__dict__,
            }
            return _reconstruct_persistent_obj, (meta,)

    Persistent.__name__ = cls.__name__
    Persistent.__qualname__ = cls.__qualname__
    return Persistent


def _reconstruct_persistent_obj(meta):
    module = _module_by_source.get(meta["module_src"])
    if module is None:
        name = f"_imported_module_{uuid.uuid4().hex}"
        module = types.ModuleType(name)
        sys.modules[name] = module
        _source_by_module[name] = meta["module_src"]
        exec(meta["module_src"], module.__dict__)
        _module_by_source[meta["module_src"]] = module
    cls = getattr(module, meta["class_name"])
    obj = cls.__new__(cls)
    obj.__setstate__(meta["state"])
    return obj
