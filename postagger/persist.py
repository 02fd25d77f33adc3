"""A model is a folder: weights.npz (plain arrays, loaded with allow_pickle=False) and model.json
(format version, config, vocabularies, tagset, corpus, metrics). No pickle anywhere.

Folders are written whole under a temporary name and then renamed into place, so an interrupted
save never leaves a broken model where a good one stood.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from .errors import ModelError, UsageError, first_line, reason

FORMAT_VERSION = 2  # 2: one input table per group holding both directions (1: one per direction)
WEIGHTS, META, HISTORY = "weights.npz", "model.json", "history.json"
LEXICON = "lexicon.npz"  # every vocabulary word's input group ids (see encoding.Encoder); rebuilt when absent
BEST, OPTIMIZER = "best.npz", "optimizer.npz"  # in checkpoints only
OWN_FILES = frozenset((WEIGHTS, META, HISTORY, LEXICON, BEST, OPTIMIZER))  # what a save may replace
OS_CLUTTER = frozenset((".DS_Store", "Thumbs.db", "desktop.ini"))  # file browsers' own: replaced too


def _umask() -> int:
    """The process's umask (read by setting it, then set back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_folder_atomically(folder: Path, files: dict[str, bytes | np.ndarray | dict]) -> None:
    """Write every file into a fresh sibling folder, fsync it, then swap it in for `folder`.
    dict values are written as JSON, byte strings as they are, dicts of arrays as .npz."""
    folder = Path(folder)
    check_replaceable(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    clear_leftovers(folder)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.{os.getpid()}-", suffix=".tmp", dir=folder.parent))
    staging.chmod(0o777 & ~_umask())  # mkdtemp makes it private (0700); a model folder is as any other
    old = None
    try:
        for name, content in files.items():
            path = staging / name
            if name.endswith(".npz"):
                with open(path, "wb") as handle:
                    np.savez(handle, **content)
            elif name.endswith(".json"):
                path.write_text(json.dumps(content, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
            else:
                path.write_bytes(content)
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
        if folder.exists():
            old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
            os.replace(folder, old)
        os.replace(staging, folder)
    except BaseException:  # a Ctrl-C between the two renames included: the old folder goes back
        if old is not None and old.exists() and not folder.exists():
            os.replace(old, folder)
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def clear_leftovers(folder: Path, restore: bool = True) -> None:
    """What a save killed outright (kill -9, a power cut) left beside folder: its staging folder
    (.NAME.PID-*.tmp), removed, and the folder it had moved aside (.NAME.old-PID), put back
    when nothing took its place (and restore), else removed. Only a dead process's leftovers
    are touched."""
    for path in folder.parent.glob(f".{glob.escape(folder.name)}.*"):
        rest = path.name[len(folder.name) + 2 :]
        if rest.startswith("old-"):
            pid = rest[4:]
        elif rest.endswith(".tmp") and "-" in rest:
            pid = rest.split("-", 1)[0]
        else:
            continue
        if not pid.isdigit() or _alive(int(pid)) or not path.is_dir() or path.is_symlink():
            continue
        if rest.startswith("old-") and restore and not folder.exists():
            os.replace(path, folder)
        else:
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):  # another user's, or no process number at all: left alone
        return True
    return True


def check_replaceable(folder: Path) -> None:
    """A UsageError unless folder is absent, empty, or a model folder holding only the files a
    save writes: never replace anything else (a save replaces the folder whole)."""
    folder = Path(folder)
    if folder.is_symlink():
        raise UsageError(f"{folder}: a symbolic link; give the folder it stands for (choose another --out)")
    if not folder.exists():
        return
    if not folder.is_dir() or not (folder / META).exists() and any(folder.iterdir()):
        kind = "a folder that is not a model" if folder.is_dir() else "a file"
        raise UsageError(f"{folder}: is {kind}; refusing to replace it (choose another --out)")
    others = sorted(path.name for path in folder.iterdir() if path.name not in OWN_FILES | OS_CLUTTER)
    if others:
        listed = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
        raise UsageError(f"{folder}: holds files postagger did not write ({listed}), which replacing the model "
                         f"would delete; move them out first")


def check_writable(folder: Path) -> None:
    """A UsageError unless folder could be made here: a name of its own, and its nearest existing
    ancestor a folder this process may write in."""
    folder = Path(folder)
    if folder.name in ("", ".", ".."):
        raise UsageError(f"{folder}: not a name for a model folder (choose another --out)")
    ancestor = folder.absolute().parent
    while not ancestor.exists() and not ancestor.is_symlink():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UsageError(f"{folder}: {ancestor} is not a folder (choose another --out)")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise UsageError(f"{folder}: cannot write in {ancestor} (choose another --out)")
    try:
        limit = os.pathconf(ancestor, "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    name = len(os.fsencode(folder.name))
    room = limit - len(f"..{os.getpid()}-xxxxxxxx.tmp")  # a save's staging folder, .NAME.PID-xxxxxxxx.tmp
    if name > room:
        raise UsageError(f"{folder}: a name of {name} bytes, too long to save under here (at most {room}); "
                         f"choose a shorter --out")


def check_file_writable(path: Path, option: str, inputs: tuple[Path, ...] = ()) -> None:
    """A UsageError unless a file could be written at path: its folder exists and this process
    may write in it, path is not a folder nor a file it may not write, and it is none of the
    inputs nor inside one of them (a model folder). For outputs written after long work."""
    path = Path(path)
    folder = path.absolute().parent
    if path.is_dir():
        raise UsageError(f"{path}: a folder, not a file (choose another {option})")
    for given in map(Path, inputs):
        if path.resolve() == given.resolve():
            raise UsageError(f"{path}: would write over {given}, which this command reads (choose another {option})")
        if given.is_dir() and given.resolve() in path.resolve().parents:
            raise UsageError(f"{path}: would write into {given}, which this command reads (choose another {option})")
    if path.exists() and not os.access(path, os.W_OK):
        raise UsageError(f"{path}: cannot write (permission denied; choose another {option})")
    if not folder.is_dir():
        raise UsageError(f"{path}: no folder {folder} (choose another {option})")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"{path}: cannot write in {folder} (choose another {option})")


def save_model(folder: Path, params: dict[str, np.ndarray], meta: dict, extra_files: dict | None = None) -> None:
    meta = {"format_version": FORMAT_VERSION, **meta}
    write_folder_atomically(Path(folder), {WEIGHTS: params, META: meta, **(extra_files or {})})


def read_json(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        raise ModelError(f"{path}: missing; is {path.parent} a model folder?") from None
    except OSError as err:
        raise ModelError(f"{path}: cannot read ({reason(err)})") from None
    except (ValueError, RecursionError) as err:  # ValueError: bad JSON, bad UTF-8, an integer of 4,300 digits
        line = f":{err.lineno}" if isinstance(err, json.JSONDecodeError) else ""
        why = "nested too deeply" if isinstance(err, RecursionError) else first_line(err)
        raise ModelError(f"{path}{line}: not valid JSON ({why})") from None
    if not isinstance(data, dict):
        raise ModelError(f"{path}: expected a JSON object")
    return data


def load_model(folder: Path) -> tuple[dict[str, np.ndarray], dict]:
    """(params, meta) of a model folder; a ModelError names the file when anything is off."""
    meta = read_meta(folder)
    return load_arrays(Path(folder) / WEIGHTS), meta


def read_meta(folder: Path) -> dict:
    """model.json of a model folder, checked for a format version this postagger reads."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ModelError(f"{folder}: a file, not a model folder (a model is a folder made by postagger train)")
    if not folder.exists() and folder.parent.is_dir():  # a save killed between its two renames moved it aside
        try:
            clear_leftovers(folder)
        except OSError:  # not ours to mend (a read-only folder): said as missing below
            pass
    if not folder.is_dir():
        raise ModelError(f"{folder}: no such model folder (train one with: postagger train --out {folder})")
    meta = read_json(folder / META)
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ModelError(f"{folder / META}: no valid format_version")
    if version < FORMAT_VERSION:
        raise ModelError(
            f"{folder / META}: format version {version} comes from an older postagger, which kept one "
            f"input table per direction; retrain the model with this one"
        )
    if version > FORMAT_VERSION:
        raise ModelError(
            f"{folder / META}: format version {version} is newer than this postagger reads "
            f"({FORMAT_VERSION}); upgrade postagger"
        )
    return meta


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of an .npz file, without pickle; a ModelError when it is missing or broken."""
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):  # a single .npy array
            raise ModelError(f"{path}: one .npy array, not an .npz archive of named arrays")
        arrays = {}
        with archive:
            for name in archive.files:
                try:
                    arrays[name] = archive[name]
                except ValueError as err:
                    if "allow_pickle" in str(err):  # an object array: its items would be unpickled
                        raise ModelError(f"{path}: {name} holds Python objects, which postagger does not unpickle") from None
                    raise
        odd = next((name for name, value in arrays.items() if not isinstance(value, np.ndarray)), None)
        if odd is not None:  # numpy hands a member that is not .npy over as bytes
            raise ModelError(f"{path}: {odd} is not an array")
        return arrays
    except MemoryError:
        raise ModelError(f"{path}: an array too large to load (corrupt?)") from None
    except FileNotFoundError:
        raise ModelError(f"{path}: missing") from None
    except PermissionError:
        raise ModelError(f"{path}: cannot read (permission denied)") from None
    except IsADirectoryError:
        raise ModelError(f"{path}: a folder, not an .npz file") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as err:
        if "pickle" in str(err):  # numpy's guess for any file that is not .npy or .npz: no pickle is read here
            raise ModelError(f"{path}: not an .npz archive of arrays (truncated or corrupt)") from None
        raise ModelError(f"{path}: truncated or corrupt ({first_line(err)})") from None
