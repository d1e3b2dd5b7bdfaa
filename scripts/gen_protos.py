"""Compile protos/ into the Python package under gen/ (imported as `issues.v1`).

    python scripts/gen_protos.py          # regenerate gen/
    python scripts/gen_protos.py --check  # exit 1 if gen/ is stale (CI)

The only place generated code comes from. google/api/*.proto are vendored in
third_party/googleapis so that protoc and buf see the same files. The .pyi
stubs come from mypy-protobuf's plugins (installed with the test extra): unlike
protoc's own --pyi_out they type extensions (the method options
common/descriptors.py reads) and the gRPC stubs, and pass mypy --strict.
"""

from __future__ import annotations

import argparse
import filecmp
import pathlib
import re
import shutil
import sys
import tempfile

import grpc_tools
from grpc_tools import protoc

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
THIRD_PARTY = ROOT / "third_party" / "googleapis"
OUT = ROOT / "gen"
WELL_KNOWN = pathlib.Path(grpc_tools.__file__).parent / "_proto"
# mypy-protobuf's protoc plugins, installed beside this interpreter.
PLUGINS = pathlib.Path(sys.executable).parent


def generate(out: pathlib.Path) -> None:
    paths = sorted(PROTOS.rglob("*.proto"))
    sources = [str(p.relative_to(PROTOS)) for p in paths]
    # gRPC stubs only for files that declare a service; the rest would be empty.
    services = [str(p.relative_to(PROTOS)) for p in paths if re.search(r"^service ", p.read_text(), re.M)]
    includes = [f"-I{PROTOS}", f"-I{THIRD_PARTY}", f"-I{WELL_KNOWN}"]
    plugins = [f"--plugin=protoc-gen-{name}={PLUGINS / f'protoc-gen-{name}'}" for name in ("mypy", "mypy_grpc")]
    for outputs, files in (
        ([f"--python_out={out}", f"--mypy_out=quiet:{out}"], sources),
        ([f"--grpc_python_out={out}", f"--mypy_grpc_out=quiet:{out}"], services),
    ):
        if protoc.main(["protoc", *includes, *plugins, *outputs, *files]) != 0:
            raise SystemExit("protoc failed")
    # Make every generated directory a regular package.
    for directory in [out / "issues", *(p for p in (out / "issues").rglob("*") if p.is_dir())]:
        (directory / "__init__.py").touch()


def differences(a: pathlib.Path, b: pathlib.Path) -> list[str]:
    found = []
    cmp = filecmp.dircmp(a, b, ignore=["__pycache__"])
    found += [f"only in {a}: {n}" for n in cmp.left_only]
    found += [f"only in {b}: {n}" for n in cmp.right_only]
    for name in cmp.common_files:
        if (a / name).read_bytes() != (b / name).read_bytes():
            found.append(f"differs: {b / name}")
    for name in cmp.common_dirs:
        found += differences(a / name, b / name)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if gen/ is stale")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        fresh = pathlib.Path(tmp)
        generate(fresh)
        if options.check:
            stale = (
                differences(fresh / "issues", OUT / "issues")
                if (OUT / "issues").exists()
                else ["gen/issues is missing"]
            )
            for line in stale:
                print(line, file=sys.stderr)
            if stale:
                print("generated code is stale: run python scripts/gen_protos.py", file=sys.stderr)
                return 1
            print("generated code is fresh")
            return 0
        shutil.rmtree(OUT / "issues", ignore_errors=True)
        shutil.copytree(fresh / "issues", OUT / "issues")
    print(f"generated {OUT / 'issues'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
