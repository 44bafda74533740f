"""Where the shipped ONNX models and their manifests (and other package files) live.

The lookup order lets the same code run from a source checkout (tests, CLI, benchmarks), from a
colcon install (ROS nodes) and from a deployment that keeps models elsewhere (environment
variable), without the caller having to know which one applies.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

from face_affect_ros.core.manifest import ModelError

#: Environment variable that overrides every other location (a directory of manifests).
MODELS_DIR_ENV = "FACE_AFFECT_MODELS_DIR"

#: ament package name whose ``share/<name>/models`` directory holds the installed models.
PACKAGE_NAME = "face_affect_ros"

# face_affect_ros/face_affect_ros/core/paths.py -> face_affect_ros/models in a source checkout.
_SOURCE_TREE_MODELS = Path(__file__).resolve().parents[2] / "models"


def _has_manifests(directory: Path) -> bool:
    """Tell whether a directory holds at least one JSON manifest (then it is a models dir).

    This keeps an unrelated ``site-packages/models`` (the install layout puts this file two
    levels below site-packages) from being mistaken for ours.
    """
    return directory.is_dir() and any(directory.glob("*.json"))


def models_dir() -> Path:
    """Return the directory holding the model manifests.

    Order: ``$FACE_AFFECT_MODELS_DIR`` (must exist if set: a typo should fail loudly, not fall
    back silently to other models), the source tree's ``face_affect_ros/models``, then the
    installed ``share/face_affect_ros/models`` (:func:`find_package_path`).

    Raises:
        ModelError: no candidate directory exists; the message lists what was tried.
    """
    tried: list[str] = []
    env = os.environ.get(MODELS_DIR_ENV)
    if env:
        path = Path(env).expanduser()
        if not path.is_dir():
            raise ModelError(f"{MODELS_DIR_ENV}={env!r} is not a directory")
        return path
    tried.append(f"${MODELS_DIR_ENV} (unset)")

    path, more = find_package_path(PACKAGE_NAME, "models", _SOURCE_TREE_MODELS, _has_manifests)
    if path is not None:
        return path
    tried += more
    raise ModelError("no models directory found; tried: " + "; ".join(tried))


def share_candidates(package: str, subdir: str) -> list[tuple[str, Path | None]]:
    """Installed locations of ``share/<package>/<subdir>``: (description, path or None).

    The ament index (when AMENT_PREFIX_PATH is set: a sourced ROS workspace), then
    ``sys.prefix/share`` (a pip-installed venv without the ament environment). A None path means
    the location does not apply here; its description says why.
    """
    out: list[tuple[str, Path | None]] = []
    if os.environ.get("AMENT_PREFIX_PATH"):
        try:
            from ament_index_python.packages import get_package_share_directory

            out.append(("ament index", Path(get_package_share_directory(package)) / subdir))
        except (ImportError, LookupError, OSError) as exc:
            out.append((f"ament index ({type(exc).__name__}: {exc})", None))
    else:
        out.append(("ament index (AMENT_PREFIX_PATH unset)", None))
    out.append(("sys.prefix", Path(sys.prefix) / "share" / package / subdir))
    return out


def find_package_path(
    package: str,
    subdir: str,
    source: Path,
    accept: Callable[[Path], bool],
    installed_first: bool = False,
) -> tuple[Path | None, list[str]]:
    """The first of the source tree's `source` and the installed share dirs that `accept`s.

    One lookup for every file the package ships next to its code (models, config, sample bag,
    message definitions). Source first by default, so a checkout uses its own files;
    `installed_first` for files that must match what the running nodes were built from.
    Returns (path or None, the locations tried, for the caller's error message).
    """
    installed = share_candidates(package, subdir)
    order = (
        [*installed, ("source tree", source)]
        if installed_first
        else [
            ("source tree", source),
            *installed,
        ]
    )
    tried = []
    for what, path in order:
        if path is not None and accept(path):
            return path, tried
        tried.append(str(path) if path is not None else what)
    return None, tried


def model_manifest_path(name_or_path: str | os.PathLike[str]) -> Path:
    """Resolve a manifest given as a path or as a bare model name in :func:`models_dir`.

    ``"emotion_mini_xception"``, ``"emotion_mini_xception.json"`` and
    ``"/abs/dir/emotion_mini_xception.json"`` all work, so configuration files can name models
    without hard-coding the install location.
    """
    text = os.fspath(name_or_path)
    path = Path(text).expanduser()
    if path.is_absolute() or len(path.parts) > 1:
        return path
    if not text.endswith(".json"):
        text += ".json"
    return models_dir() / text
