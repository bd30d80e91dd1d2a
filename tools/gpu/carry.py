"""What the GPU check carries to a machine without network: wheels and a CIFAR-10 subset.

    python tools/gpu/carry.py wheels DEST        # cp312 manylinux wheels the GPU machine lacks
    python tools/gpu/carry.py subset DEST.zip --root DATA_ROOT [--train 10000] [--test 2000]

``wheels`` walks the dependency closure of the project's runtime requirements one wheel at a
time (``pip download --no-deps``, then the wheel's own Requires-Dist for Python 3.12 on
Linux), pinned to the versions installed here, so the GPU machine runs what the tests ran;
packages already on the GPU machine (present.txt) are neither fetched nor followed.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import re
import subprocess
import sys
import zipfile
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

HERE = Path(__file__).resolve().parent
# What the project imports at run time there (the GPU machine has torch, numpy, pandas, ...).
ROOTS = ("mlflow", "optuna", "reportlab", "sqlalchemy", "alembic")
TARGET_ENV = {**default_environment(), "python_version": "3.12", "python_full_version": "3.12.3",
              "sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64",
              "implementation_name": "cpython", "platform_python_implementation": "CPython"}
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_24_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64", "linux_x86_64")


def present() -> set[str]:
    lines = (HERE / "present.txt").read_text().splitlines()
    return {canonicalize_name(n) for n in lines if n.strip() and not n.startswith("#")}


def _local_version(name: str) -> str | None:
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None


def _download(spec: str, dest: Path) -> Path:
    before = set(dest.iterdir())
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
           "--python-version", "3.12", "--implementation", "cp", *[a for p in PLATFORMS for a in ("--platform", p)],
           "--dest", str(dest), spec]
    subprocess.run(cmd, check=True)
    new = set(dest.iterdir()) - before
    if new:
        return new.pop()
    name = canonicalize_name(re.split(r"[=<>!~ ]", spec)[0])
    return next(p for p in dest.glob("*.whl") if canonicalize_name(p.name.split("-")[0]) == name)


def _requires(wheel: Path) -> list[Requirement]:
    with zipfile.ZipFile(wheel) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        text = z.read(meta).decode()
    reqs = [Requirement(line.split(":", 1)[1].strip()) for line in text.splitlines() if line.startswith("Requires-Dist:")]
    return [r for r in reqs if r.marker is None or r.marker.evaluate({**TARGET_ENV, "extra": ""})]


def wheels(dest: Path) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    skip = present()
    queue, seen, got = list(ROOTS), set(), []
    while queue:
        name = canonicalize_name(queue.pop(0))
        if name in seen or name in skip:
            continue
        seen.add(name)
        version = _local_version(name)
        wheel = _download(f"{name}=={version}" if version else name, dest)
        got.append(wheel)
        queue += [r.name for r in _requires(wheel)]
    return got


def subset(out: Path, root: Path, train: int, test: int) -> int:
    """The first ``train`` / ``test`` images of each split, class-balanced, as cifar10/... in a
    zip without compression (JPEG does not compress; a tar's 512-byte blocks would double it)."""
    count = 0
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as z:
        for split, n in (("train", train), ("test", test)):
            classes = sorted(p for p in (root / "cifar10" / split).iterdir() if p.is_dir())
            for cls in classes:
                for image in sorted(cls.iterdir())[: n // len(classes)]:
                    z.write(image, f"cifar10/{split}/{cls.name}/{image.name}")
                    count += 1
    return count


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="what", required=True)
    w = sub.add_parser("wheels")
    w.add_argument("dest", type=Path)
    s = sub.add_parser("subset")
    s.add_argument("out", type=Path)
    s.add_argument("--root", type=Path, required=True)
    s.add_argument("--train", type=int, default=10000)
    s.add_argument("--test", type=int, default=2000)
    args = p.parse_args()
    if args.what == "wheels":
        got = wheels(args.dest)
        print(f"{len(got)} wheels in {args.dest}")
    else:
        print(f"{subset(args.out, args.root, args.train, args.test)} images in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
