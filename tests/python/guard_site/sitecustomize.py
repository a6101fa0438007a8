"""Put first on the test children's PYTHONPATH by conftest: the whole-import guard in every Python child.

Python imports ``sitecustomize`` at start-up; this one installs ../whole_import_guard.py's audit
hook when the environment says a test not marked slow is running, then hands over to the
interpreter's own sitecustomize, if it has one (this one shadows it).
"""

import importlib.machinery
import importlib.util
import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("_gladly_whole_import_guard",
                                               os.path.join(os.path.dirname(_here), "whole_import_guard.py"))
if _spec is not None and _spec.loader is not None:
    _guard = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_guard)
    if os.environ.get(_guard.GUARD_ENV):
        _guard.install()

_shadowed = importlib.machinery.PathFinder.find_spec("sitecustomize", [p for p in sys.path if os.path.abspath(p or ".") != _here])
if _shadowed is not None and _shadowed.loader is not None:
    _shadowed.loader.exec_module(importlib.util.module_from_spec(_shadowed))
