"""What a source path may be, and reading it without ever crashing.

A source path (a recipe's `data.sources[].path`, or a `make convert` SRC) may be
    a file                 read by the format's converter
    a folder               every file under it, recursively, in name order (formats that take
                           a whole release folder, FOLDER_FORMATS, get the folder itself)
    a glob ("raw/*.csv")   every match, in name order
    a .zip                 every member, `__MACOSX/` and `._*` skipped; members are extracted
                           into a scratch folder one at a time (and deleted once read), so a
                           corrupted member (bad CRC, truncated) becomes a Reject naming
                           "<zip>!<member>" and the other members are still read
Junk is skipped everywhere: names starting with "." (incl. macOS `._*` companions) and
`__MACOSX` folders. Whatever goes wrong while a converter reads a file (an exception of any
kind) ends that file with a Reject "unreadable file (<error>)"; records already read are kept.

check_source(format, path) lists what shows without converting: a missing path, an empty file
or folder, a zip that does not open (or, with crc=True, fails its CRC check), a release folder
without the files its format needs.
"""
from __future__ import annotations

import glob
import shutil
import zipfile
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator

from converters.common import Reject

# Formats whose reader takes a whole release folder; for the others a folder means "every file in it".
FOLDER_FORMATS = {"cmedqa2", "cmedqa1", "cmedqa2-pairs", "medqa-textbooks"}
# Files a release folder must hold (any one name of each group, plain or inside one of its zips).
REQUIRED = {
    "cmedqa2": (("question.csv", "questions.csv"), ("answer.csv", "answers.csv")),
    "cmedqa1": (("question.csv", "questions.csv"), ("answer.csv", "answers.csv")),
    "cmedqa2-pairs": (("question.csv", "questions.csv"), ("answer.csv", "answers.csv"), ("train_candidates.txt",),
                      ("dev_candidates.txt",), ("test_candidates.txt",)),
}
GLOB_CHARS = set("*?[")


def is_junk(path: Path | str) -> bool:
    """macOS resource forks and folders, hidden files."""
    parts = Path(path).parts
    return any(p == "__MACOSX" or (p.startswith(".") and p not in (".", "..")) for p in parts)


def _zip_members(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    return [i for i in archive.infolist() if not i.is_dir() and not is_junk(i.filename)]


def _extract(zpath: Path, display: str, scratch: Path) -> Iterator[tuple[str, Path] | Reject]:
    """(display name, extracted path) per good member; a Reject per bad member or bad zip."""
    try:
        archive = zipfile.ZipFile(zpath)
    except (zipfile.BadZipFile, OSError) as exc:
        yield Reject(display, 0, f"unreadable zip: {exc}")
        return
    with archive:
        members = _zip_members(archive)
        if not members:
            yield Reject(display, 0, "empty zip: no files in it (only folders or __MACOSX junk)")
        for info in sorted(members, key=lambda i: i.filename):
            # never outside scratch, whatever the member is called ("../x", "/etc/x")
            target = scratch.joinpath(*(p for p in PurePosixPath(info.filename).parts if p not in ("..", "/")))
            target.parent.mkdir(parents=True, exist_ok=True)
            try:  # streamed copy; the CRC is checked when the member's end is read
                with archive.open(info) as src, target.open("wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
            except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as exc:
                target.unlink(missing_ok=True)
                yield Reject(f"{display}!{info.filename}", 0, f"corrupted zip member: {exc}")
                continue
            yield f"{display}!{info.filename}", target


def expand(path: Path | str, fmt: str, scratch: Path) -> Iterator[tuple[str, Path] | Reject]:
    """(display name, path to hand the converter) per file of a source; Rejects for what cannot be read."""
    text = str(path)
    path = Path(path)
    if not path.exists() and GLOB_CHARS & set(text):
        # junk judged by the file's own name: a pattern may well live under a hidden folder (~/.cache/...)
        matches = sorted(m for m in glob.glob(text, recursive=True)
                         if not is_junk(Path(m).name) and "__MACOSX" not in Path(m).parts)
        if not matches:
            yield Reject(text, 0, "no file matches this pattern")
        for n, match in enumerate(matches):
            yield from expand(match, fmt, scratch / f"glob{n}")
        return
    if not path.exists():
        yield Reject(text, 0, "missing path: no such file or folder")
        return
    if path.is_dir():
        if fmt in FOLDER_FORMATS:
            yield text, path
            return
        files = sorted(p for p in path.rglob("*") if p.is_file() and not is_junk(p.relative_to(path)))
        if not files:
            yield Reject(text, 0, "empty folder: no files under it (hidden files and __MACOSX are skipped)")
        for n, file in enumerate(files):
            yield from expand(file, fmt, scratch / f"f{n}")
        return
    if zipfile.is_zipfile(path) or path.suffix.lower() == ".zip":
        if fmt in FOLDER_FORMATS:  # a zipped release: extract it all, hand over the folder
            for item in _extract(path, text, scratch):
                if isinstance(item, Reject):
                    yield item
            roots = [p for p in scratch.iterdir()] if scratch.exists() else []
            if len(roots) == 1 and roots[0].is_dir():  # "cMedQA2-master/..." inside the zip
                yield f"{text}!{roots[0].name}", roots[0]
            else:
                yield f"{text}!", scratch
            return
        for item in _extract(path, text, scratch):
            if isinstance(item, Reject) or item[1].suffix.lower() != ".zip":
                yield item
                continue
            display, inner = item  # a zip inside the zip: expanded too, named "<zip>!<inner zip>!<member>"
            for nested in expand(inner, fmt, scratch / (inner.name + ".d")):
                if isinstance(nested, Reject):
                    nested.file = nested.file.replace(str(inner), display)
                    yield nested
                else:
                    yield nested[0].replace(str(inner), display), nested[1]
        return
    yield text, path


def read_source(fmt: str, path: Path | str, reader: Callable, scratch: Path) -> Iterator:
    """Every record of a source (Examples, Documents, Rejects), whatever the path holds."""
    for item in expand(path, fmt, scratch):
        if isinstance(item, Reject):
            yield item
            continue
        display, file = item
        try:
            for record in reader(file):
                if isinstance(record, Reject) and display != str(file):
                    record.file = record.file.replace(str(file), display)
                yield record
        except Exception as exc:  # noqa: BLE001 -- no input may crash a run; the file is named instead
            yield Reject(display, 0, f"unreadable file ({type(exc).__name__}: {exc}); rest of file skipped")
        if file.is_file() and Path(scratch) in file.parents:
            file.unlink()  # an extracted zip member: disk holds one member at a time, not the whole zip


def check_source(fmt: str, path: str, crc: bool = False) -> list[str]:
    """Problems of one source that show without converting it (empty list when it looks readable).

    Every recipe load runs the cheap checks (zips are opened, their listing read); `crc=True` also
    reads every zip member to check its CRC-32 (`make validate` does; on a 1 GB zip that takes seconds).
    """
    target = Path(path)
    if not target.exists():
        if GLOB_CHARS & set(path) and glob.glob(path, recursive=True):
            return []
        return ["file not found (paths are relative to the repository root)"]
    if target.is_file():
        files = [target]
    else:
        files = sorted(p for p in target.rglob("*") if p.is_file() and not is_junk(p.relative_to(target)))
        if not files:
            return ["empty folder: no files under it"]
    problems, names = [], {p.name for p in files}
    for file in files:
        if file.stat().st_size == 0:
            problems.append(f"empty file: {file}")
        elif zipfile.is_zipfile(file) or file.suffix.lower() == ".zip":
            try:
                with zipfile.ZipFile(file) as archive:
                    bad = archive.testzip() if crc else None  # reads every member: checks the CRCs
                    names |= {Path(i.filename).name for i in _zip_members(archive)}
                if bad:
                    problems.append(f"corrupted zip member: {file}!{bad} fails its CRC check")
            except (zipfile.BadZipFile, OSError) as exc:
                problems.append(f"unreadable zip: {file} ({exc})")
    for group in REQUIRED.get(fmt, ()):
        if not names & set(group):
            problems.append(f"missing file: {fmt} needs {' or '.join(group)} (plain or zipped) in {path}")
    if fmt == "medqa-textbooks" and not any(n.endswith(".txt") for n in names):
        problems.append(f"no .txt files: medqa-textbooks needs the textbook .txt files in {path}")
    return problems
