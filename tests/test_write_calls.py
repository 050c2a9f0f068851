"""Every file the project writes goes through the one atomic writer (:mod:`egru_format.atomic`).

The sources of the packages, the benchmarks, the scripts and the tutorials' code cells are
parsed with ``ast`` (nothing is run) and every call that writes a file is listed:
``np.save``/``savez``/``savetxt``, ``torch.save``, ``.savefig``, ``.tofile``,
``.write_text``/``.write_bytes``, ``open``/``.open`` with a writing mode, ``h5py.File`` with a
writing mode, ``shutil.copy*``/``move``, ``.to_csv``/``.to_json``; not those writing to memory (an
``io.BytesIO``, an HDF5 file with ``backing_store=False``). Each must write to the temporary file of an atomic write: it sits
in a lambda or a function passed to ``atomic_write``, ``atomic_write_stream`` (or the other
helpers), and it writes to that callback's parameter (the temporary path or stream). The
writer's own module is exempt, and so is each entry of ``ALLOWED`` (with its reason). So a
new ``np.save``/``torch.save``/``open(..., "w")`` onto a user's path fails here.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

#: Where the project's code lives (tests excluded: they write scratch files under tmp_path).
SOURCES = ("egru_format", "snntorch_egru", "lava_egru", "converters", "egru", "benchmarks", "scripts")
#: The one writer: its module writes the temporary files themselves.
WRITER_MODULE = "egru_format/atomic.py"
#: The functions that run a callback on the temporary file of an atomic write.
ATOMIC_WRITERS = {"atomic_write", "atomic_write_stream"}
#: Writes that are not onto a user's path, by (file, enclosing function, call): why each is fine.
ALLOWED = {
    ("snntorch_egru/event_inference.py", "_build_library", "write_text"):
        "the C source, into a fresh tempfile.TemporaryDirectory; the compiled library is then moved into "
        "the cache with os.replace",
    ("benchmarks/bench_layer.py", "*", "write_text"):
        "writes '5' to /proc/self/clear_refs (resets the peak-memory counter); not a file",
    ("benchmarks/bench_network_write.py", "_reset_peak", "write_text"):
        "writes '5' to /proc/self/clear_refs (resets the peak-memory counter); not a file",
    ("benchmarks/bench_network_write.py", "write", "torch.save"):
        "the bare torch.save that the atomic writer's cost is measured against, onto a scratch file",
}

NUMPY_TORCH = {"np", "numpy", "torch"}
SAVE_FUNCTIONS = {"save", "savez", "savez_compressed", "savetxt"}
WRITING_METHODS = {"savefig", "tofile", "write_text", "write_bytes", "to_csv", "to_json", "imsave"}
SHUTIL_WRITES = {"copy", "copy2", "copyfile", "copytree", "move"}
WRITE_MODE_LETTERS = set("wax+")


def _root_name(node: ast.AST):
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _mode(call: ast.Call, position: int, default: str):
    for keyword in call.keywords:
        if keyword.arg == "mode":
            return keyword.value.value if isinstance(keyword.value, ast.Constant) else None
    if len(call.args) > position:
        value = call.args[position]
        return value.value if isinstance(value, ast.Constant) and isinstance(value.value, str) else None
    return default


def _writes(mode) -> bool:
    return mode is None or bool(WRITE_MODE_LETTERS & set(mode))     # an unknown mode may write


def write_call(call: ast.Call):
    """The name of the write ``call`` makes (e.g. ``"np.save"``, ``"open"``), or None when it writes no file."""
    func = call.func
    if isinstance(func, ast.Name):
        if func.id == "open" and _writes(_mode(call, 1, "r")):
            return "open"
        return None
    if not isinstance(func, ast.Attribute):
        return None
    name, root = func.attr, _root_name(func.value)
    if name in SAVE_FUNCTIONS and root in NUMPY_TORCH:
        return f"{root}.{name}"
    if name in WRITING_METHODS:
        return name
    if name in SHUTIL_WRITES and root == "shutil":
        return f"shutil.{name}"
    if name == "open" and root != "os" and _writes(_mode(call, 1 if root == "io" else 0, "r")):
        return "open"
    if name == "File" and root == "h5py":
        in_memory = any(k.arg == "backing_store" and isinstance(k.value, ast.Constant) and k.value.value is False
                        for k in call.keywords)
        if not in_memory and _writes(_mode(call, 1, "r")):
            return "h5py.File"
    return None


def _parents(tree: ast.AST) -> dict:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _called_name(call: ast.Call):
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def _callback_names(tree: ast.AST) -> set:
    """Names of functions handed to an atomic writer as its callback (``atomic_write(path, fill)``)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _called_name(node) in ATOMIC_WRITERS:
            for value in [*node.args[1:], *(k.value for k in node.keywords if k.arg == "write")]:
                if isinstance(value, ast.Name):
                    names.add(value.id)
    return names


def _is_atomic_callback(function: ast.AST, parents: dict, callbacks: set) -> bool:
    if isinstance(function, ast.Lambda):
        call = parents.get(function)
        return isinstance(call, ast.Call) and _called_name(call) in ATOMIC_WRITERS and function in call.args[1:]
    return function.name in callbacks


def _uses(call: ast.Call, names: set) -> bool:
    return any(isinstance(node, ast.Name) and node.id in names for node in ast.walk(call))


def _is_bytes_io(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and _called_name(node) == "BytesIO"


def _in_memory_names(tree: ast.AST) -> set:
    """Names bound to an ``io.BytesIO(...)`` anywhere in the module."""
    return {target.id for node in ast.walk(tree) if isinstance(node, ast.Assign) and _is_bytes_io(node.value)
            for target in node.targets if isinstance(target, ast.Name)}


def _to_memory(call: ast.Call, in_memory: set) -> bool:
    arguments = [*call.args, *(k.value for k in call.keywords)]
    if isinstance(call.func, ast.Attribute):
        arguments.append(call.func.value)
    return any(_is_bytes_io(a) or (isinstance(a, ast.Name) and a.id in in_memory) for a in arguments)


def unguarded_writes(source: str, filename: str) -> list:
    """``(line, enclosing function, write)`` of every write in ``source`` not made through the atomic writer."""
    tree = ast.parse(source, filename)
    parents, callbacks, in_memory = _parents(tree), _callback_names(tree), _in_memory_names(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or (kind := write_call(node)) is None or _to_memory(node, in_memory):
            continue
        function, enclosing = parents.get(node), "*"
        while function is not None and not isinstance(function, (ast.Lambda, ast.FunctionDef,
                                                                    ast.AsyncFunctionDef)):
            function = parents.get(function)
        if function is not None:
            enclosing = getattr(function, "name", "<lambda>")
            parameters = {a.arg for a in function.args.args}
            if _is_atomic_callback(function, parents, callbacks) and _uses(node, parameters):
                continue
            outer = function
            while outer is not None and not isinstance(outer, (ast.FunctionDef, ast.AsyncFunctionDef)):
                outer = parents.get(outer)
            enclosing = outer.name if outer is not None else enclosing
        found.append((node.lineno, enclosing, kind))
    return found


def _project_sources():
    for folder in SOURCES:
        for path in sorted((REPO_ROOT / folder).rglob("*.py")):
            relative = path.relative_to(REPO_ROOT).as_posix()
            if relative != WRITER_MODULE:
                yield relative, path.read_text(encoding="utf-8")
    for path in sorted((REPO_ROOT / "tutorials").glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        for index, cell in enumerate(cells):
            if cell["cell_type"] == "code":
                code = "".join(cell["source"])
                # IPython magics and shell escapes are not Python
                code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in code.splitlines())
                yield f"{path.relative_to(REPO_ROOT).as_posix()}#cell{index}", code


def _allowed(relative: str, enclosing: str, kind: str) -> bool:
    return (relative, enclosing, kind) in ALLOWED or (relative, "*", kind) in ALLOWED


def test_every_write_of_the_project_goes_through_the_atomic_writer():
    offenders = [f"{relative}:{line} in {enclosing}: {kind}"
                 for relative, source in _project_sources()
                 for line, enclosing, kind in unguarded_writes(source, relative)
                 if not _allowed(relative, enclosing, kind)]
    assert not offenders, ("write these through egru_format.atomic_write_* (or add them to ALLOWED with the "
                           "reason): " + "; ".join(offenders))


def test_every_allowed_write_still_exists():
    seen = {(relative, enclosing, kind) for relative, source in _project_sources()
            for _, enclosing, kind in unguarded_writes(source, relative)}
    seen |= {(relative, "*", kind) for relative, _, kind in seen}
    assert set(ALLOWED) <= seen, set(ALLOWED) - seen


@pytest.mark.parametrize("code, expected", [
    ("np.save('out.npy', a)", ["np.save"]),
    ("torch.save(model, path)", ["torch.save"]),
    ("numpy.savez(path, a=a)", ["numpy.savez"]),
    ("fig.savefig(path, dpi=100)", ["savefig"]),
    ("Path(p).write_text('x')", ["write_text"]),
    ("a.tofile(path)", ["tofile"]),
    ("open(path, 'w')", ["open"]),
    ("open(path, mode='ab')", ["open"]),
    ("open(path, flags)", ["open"]),                       # a mode it cannot read may write
    ("path.open('w')", ["open"]),
    ("io.open(path, 'r+')", ["open"]),
    ("h5py.File(path, 'w')", ["h5py.File"]),
    ("h5py.File(path, 'a')", ["h5py.File"]),
    ("shutil.copyfile(a, b)", ["shutil.copyfile"]),
    ("def save(model, path):\n    torch.save(model, path)", ["torch.save"]),
    ("atomic_write_stream(path, lambda s: np.save('elsewhere.npy', a))", ["np.save"]),
    ("atomic_write(path, lambda tmp: open(other, 'w'))", ["open"]),
    ("other(path, lambda s: torch.save(x, s))", ["torch.save"]),
    ("def fill(tmp):\n    h5py.File(tmp, 'w')", ["h5py.File"]),                  # not handed to a writer
    # through the writer, onto its temporary file: fine
    ("atomic_write_stream(path, lambda stream: np.save(stream, a))", []),
    ("atomic_write_stream(path, lambda stream: torch.save(x, stream))", []),
    ("atomic_write(path, lambda tmp: tmp.write_bytes(data))", []),
    ("def fill(tmp):\n    h5py.File(tmp, 'w')\natomic_write(path, fill)", []),
    ("egru_format.atomic_write_stream(p, lambda s: fig.savefig(s, format='png'))", []),
    # reading, and in-memory files: fine
    ("open(path)", []), ("open(path, 'rb')", []), ("path.open()", []), ("h5py.File(path, 'r')", []),
    ("h5py.File(name, 'w', driver='core', backing_store=False)", []), ("os.open(path, flags)", []),
    ("image = io.BytesIO()\nh5py.File(image, 'w')", []), ("np.save(io.BytesIO(), a)", []),
    ("buffer = BytesIO()\ntorch.save(x, buffer)", []),
    ("np.load(path)", []), ("torch.load(path)", []), ("model.save_pretrained", []),
])
def test_the_write_finder(code, expected):
    assert [kind for _, _, kind in unguarded_writes(code, "<test>")] == expected
