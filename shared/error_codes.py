"""Every error code each service can return, found in the source, and ``docs/errors.md`` written from it.

The scan reads the AST of ``services/*/`` and ``shared/`` for calls of the kit's error classes (``shared.errors``,
under any alias) and takes each call's ``code`` (keyword or second argument; without one, the class's own code).
A code that is not a plain string is resolved where the source says what it is:
- an f-string, e.g. ``f"project.{role}_unknown"``: each placeholder that is a parameter of the function around it
  takes the values its callers pass (``self._require_active_resource(..., "manager")``), so the kit's
  ``f"{what}.not_found"`` becomes ``project.not_found`` for the project service, which passes ``what="project"``;
- ``exc.code`` inside ``except SomeError as exc``: the ``code`` values ``SomeError(...)`` is built with.
A code goes to the service whose source wrote its value (``services/<name>/``), or to the kit (``shared/``: any
service may return it). What cannot be resolved is listed as a pattern, and said so.

``chronicle errors`` writes docs/errors.md; ``chronicle errors --check`` fails when it is stale.
"""
from __future__ import annotations

import ast
import itertools
import os
from dataclasses import dataclass

from .errors import ERRORS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC_PATH = os.path.join("docs", "errors.md")
KIT = "kit"


@dataclass(frozen=True)
class Code:
    code: str
    error: str  # the class, e.g. "RuleViolation"
    owner: str  # a service's name, or "kit"
    raised_in: str  # the file (from the repository root) that raises it
    pattern: str | None = None  # the f-string it was resolved from
    resolved: bool = True  # False: ``code`` is a pattern whose values the source does not say


class _Module:
    def __init__(self, path, tree):
        self.path, self.tree = path, tree
        self.parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        self.error_names = {}  # local name -> error class name
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module, node.level) in (("shared.errors", 0), ("errors", 1)):
                for alias in node.names:
                    if alias.name in ERRORS:
                        self.error_names[alias.asname or alias.name] = alias.name

    def enclosing(self, node, kinds):
        while node in self.parents:
            node = self.parents[node]
            if isinstance(node, kinds):
                yield node


def _callee(call):
    return call.func.id if isinstance(call.func, ast.Name) else getattr(call.func, "attr", None)


def _params(function):
    names = [a.arg for a in function.args.posonlyargs + function.args.args]
    positional = names[1:] if names[:1] in (["self"], ["cls"]) else names
    return positional, [a.arg for a in function.args.kwonlyargs]


class Scanner:
    def __init__(self, root=ROOT):
        self.root = root
        self.modules = [self._parse(path) for path in self._sources()]
        self.functions = {}  # name -> (positional params, keyword-only params): functions and classes' __init__
        for module in self.modules:
            for node in ast.walk(module.tree):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    self.functions.setdefault(node.name, []).append(_params(node))
                elif isinstance(node, ast.ClassDef):
                    for item in node.body:
                        if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                            self.functions.setdefault(node.name, []).append(_params(item))

    def _sources(self):
        for top in ("shared", "services"):
            for dirpath, dirnames, filenames in os.walk(os.path.join(self.root, top)):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "__")))
                for filename in sorted(filenames):
                    if filename.endswith(".py"):
                        yield os.path.relpath(os.path.join(dirpath, filename), self.root)

    def _parse(self, path):
        with open(os.path.join(self.root, path)) as f:
            return _Module(path, ast.parse(f.read(), path))

    @staticmethod
    def owner(path):
        parts = path.split(os.sep)
        return parts[1] if parts[0] == "services" else KIT

    # -- the scan ---------------------------------------------------------------------------------
    def codes(self) -> list[Code]:
        found = set()
        for module in self.modules:
            for call in ast.walk(module.tree):
                if not isinstance(call, ast.Call) or _callee(call) not in module.error_names:
                    continue
                error = module.error_names[_callee(call)]
                expr = next((k.value for k in call.keywords if k.arg == "code"),
                            call.args[1] if len(call.args) > 1 else None)
                if expr is None:
                    found.add(Code(ERRORS[error].code, error, self.owner(module.path), module.path))
                    continue
                values = self._values(module, expr, depth=3)
                pattern = ast.unparse(expr) if not isinstance(expr, ast.Constant) else None
                if values is None:
                    found.add(Code(pattern, error, self.owner(module.path), module.path, pattern, resolved=False))
                for value, origin in values or ():
                    found.add(Code(value, error, self.owner(origin), module.path, pattern))
        return sorted(found, key=lambda c: (c.owner != KIT, c.owner, c.code, c.error, c.raised_in))

    def _values(self, module, expr, depth):
        """[(value, file that wrote it)] for a string expression, or None when the source does not say."""
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            return [(expr.value, module.path)]
        if depth == 0:
            return None
        if isinstance(expr, ast.JoinedStr):
            parts = []
            for part in expr.values:
                values = self._values(module, part.value if isinstance(part, ast.FormattedValue) else part, depth)
                if values is None:
                    return None
                parts.append(values)
            out = []
            for combination in itertools.product(*parts):
                origins = [o for _, o in combination if o != module.path]
                out.append(("".join(v for v, _ in combination), origins[0] if origins else module.path))
            return out
        if isinstance(expr, ast.Name):
            for function in module.enclosing(expr, (ast.FunctionDef, ast.AsyncFunctionDef)):
                positional, keyword_only = _params(function)
                if expr.id in positional or expr.id in keyword_only:
                    index = positional.index(expr.id) if expr.id in positional else None
                    return self._passed(function.name, expr.id, index, depth - 1)
            return None
        if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name):
            for handler in module.enclosing(expr, ast.ExceptHandler):
                if handler.name == expr.value.id and handler.type is not None:
                    exc_class = handler.type.id if isinstance(handler.type, ast.Name) else getattr(
                        handler.type, "attr", None)
                    for positional, keyword_only in self.functions.get(exc_class, ()):
                        if expr.attr in positional or expr.attr in keyword_only:
                            index = positional.index(expr.attr) if expr.attr in positional else None
                            return self._passed(exc_class, expr.attr, index, depth - 1)
        return None

    def _passed(self, function_name, param, index, depth):
        """The values every call of ``function_name`` passes for ``param``; None if one of them is not known."""
        out = []
        for module in self.modules:
            for call in ast.walk(module.tree):
                if not isinstance(call, ast.Call) or _callee(call) != function_name:
                    continue
                arg = next((k.value for k in call.keywords if k.arg == param),
                           call.args[index] if index is not None and len(call.args) > index else None)
                if arg is None:
                    continue  # not passed here: another function of that name, or the default (not used)
                values = self._values(module, arg, depth)
                if values is None:
                    return None
                out += values
        return out or None


# -- docs/errors.md ---------------------------------------------------------------------------------------
MODEL = """\
# Errors

<!-- Generated by `chronicle errors` from the source (shared/error_codes.py); do not edit by hand. -->

Every refusal a Chronicle RPC answers with is one of the kit's classes (`shared/errors.py`) and carries:

| field | meaning |
|---|---|
| `type` | the class, below |
| `code` | machine-readable, stable: what went wrong (`timesheet.period_locked`) |
| `message` | for people; may change |
| `errors` | field name → list of messages (a `ValidationError`'s bad arguments); `{{}}` otherwise |

| type | HTTP status | code when none is given | meaning |
|---|---|---|---|
{classes}

**Over nameko RPC, without Chronicle's code** (`nameko shell`, another team's service), the error arrives as
nameko's `RemoteError`: `exc_type` is the type and `value` is the error as a JSON object:

```python
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ClusterRpcProxy

# token: from `chronicle token create` (docs/security.md)
with ClusterRpcProxy(config, context_data={{"authorization": f"Bearer {{token}}"}}) as rpc:
    try:
        rpc.timesheet.log_time(...)
    except RemoteError as err:
        error = json.loads(err.value)  # {{"type": "RuleViolation", "code": "timesheet.period_locked",
                                       #  "message": "...", "errors": {{}}}}
```

**With Chronicle's code**, import `shared.remote_errors` (the kit's entrypoints, `shared.testing.rpc_proxy` and the
`chronicle` command do) and each error arrives as its own class, `shared.errors.RuleViolation` and so on, with
`code`, `message` and `errors` attributes.

Any other exception is a fault of the service, not an answer: nameko's `RemoteError` with its usual text `value`.
The HTTP status is each class's `http_status`, for HTTP front ends (problem+json).

## The codes
Each service can return the kit's codes and its own. The lists are generated from the source: a code written as an
f-string is resolved to the values its callers pass (said below the table), or else listed as a pattern.
"""


def _table(codes):
    files, resolved_from = {}, {}  # (code, error) -> files raising it; pattern -> the codes it resolved to
    for c in codes:
        files.setdefault((c.code, c.error, c.resolved), set()).add(c.raised_in)
        if c.pattern and c.resolved:
            resolved_from.setdefault(c.pattern, set()).add(c.code)
    lines = ["| code | type | HTTP | raised in |", "|---|---|---|---|"]
    for (code, error, resolved), where in sorted(files.items()):
        shown = f"`{code}`" + ("" if resolved else " (a pattern: its values are not in the source)")
        lines.append(f"| {shown} | {error} | {ERRORS[error].http_status} | {', '.join(f'`{f}`' for f in sorted(where))} |")
    notes = [f"- resolved from `{p}`: {', '.join(f'`{c}`' for c in sorted(cs))}" for p, cs in sorted(resolved_from.items())]
    return "\n".join(lines) + "\n" + ("\n" + "\n".join(notes) + "\n" if notes else "")


def render(codes: list[Code]) -> str:
    classes = "\n".join(
        f"| {name} | {cls.http_status} | `{cls.code}` | {(cls.__doc__ or '').strip().replace('``', '`')} |"
        for name, cls in ERRORS.items())
    out = MODEL.format(classes=classes)
    owners = sorted({c.owner for c in codes}, key=lambda o: (o != KIT, o))
    for owner in owners:
        title = "The kit (`shared/`: every service, and the `chronicle` command)" if owner == KIT else owner
        out += f"\n### {title}\n" + _table([c for c in codes if c.owner == owner])
    return out


def rendered(root=ROOT) -> str:
    return render(Scanner(root).codes())


def stale(root=ROOT) -> bool:
    path = os.path.join(root, DOC_PATH)
    return not os.path.exists(path) or open(path).read() != rendered(root)


def write(root=ROOT) -> str:
    with open(os.path.join(root, DOC_PATH), "w") as f:
        f.write(rendered(root))
    return DOC_PATH
