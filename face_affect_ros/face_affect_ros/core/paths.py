"""Where the shipped ONNX models and their manifests live.

The lookup order lets the same code run from a source checkout (tests, CLI, benchmarks), from a
colcon install (ROS nodes) and from a deployment that keeps models elsewhere (environment
variable), without the caller having to know which one applies.
"""

from __future__ import annotations

import os
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
    back silently to other models), the source tree's ``face_affect_ros/models``, then the ament
    share directory ``share/face_affect_ros/models`` when ``ament_index_python`` is importable.

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

    if _has_manifests(_SOURCE_TREE_MODELS):
        return _SOURCE_TREE_MODELS
    tried.append(str(_SOURCE_TREE_MODELS))

    try:
        from ament_index_python.packages import (
            PackageNotFoundError,
            get_package_share_directory,
        )
    except ImportError:
        tried.append("ament share directory (ament_index_python not importable)")
    else:
        try:
            share = Path(get_package_share_directory(PACKAGE_NAME)) / "models"
        except (PackageNotFoundError, OSError):  # OSError: AMENT_PREFIX_PATH unset
            tried.append(f"ament share directory (package {PACKAGE_NAME!r} not found)")
        else:
            if _has_manifests(share):
                return share
            tried.append(str(share))

    raise ModelError("no models directory found; tried: " + "; ".join(tried))


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
