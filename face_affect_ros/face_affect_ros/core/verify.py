"""Face / not-face verification: a second, closer look at a candidate before it is published.

Why: the detector scans whole frames at a low resolution and at a threshold chosen for recall, so
some of what it reports is not a face (in ``make demo`` Chelsea the cat was published as a "sad
man"). Emotion and gender models classify whatever crop they are given, so the decision has to be
made before them. The second look runs another YuNet variant (``s``, whose errors differ from the
scanning ``n``'s) on a window around the candidate, scaled so the face is 64 px wide (the size
YuNet is most sure of), and accepts the candidate if that look finds a face on the same spot
(IoU >= 0.3) with score >= 0.8.

Measured with ``bench/verify_sweep.py`` (180 frames of 640x480: 17 skimage pictures without
faces, those backgrounds with 100 lfw_subset non-face patches and with faces pasted at 20-128 px:
astronaut, cameraman, Grace Hopper from matplotlib, the 100 lfw_subset face patches). With the
scan pushed for recall (YuNet n at 640x480, threshold 0.3: 554 face and 68 non-face candidates,
among them the cat, the moon, the clock, hubble and lfw non-face patches) the verifier (s, 64 px,
0.8) keeps 0 non-face candidates and 97.8 % of the face candidates, at about 1 ms each; with
threshold 0.7 it kept 1 non-face (98.6 % of faces), n at 64 px and 0.8 kept 0 and 95.7 %. From the
default scan (256x192, 0.5): 0 of 12 non-face candidates kept, 98.6 % of 293 faces.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from face_affect_ros.core.detector import Detection
from face_affect_ros.core.manifest import Providers
from face_affect_ros.core.tracking import box_iou
from face_affect_ros.core.window import WindowDetector, box_centre

#: Verifier model (a manifest name in the models directory).
DEFAULT_VERIFY_MODEL = "yunet_s_dynamic"
#: Minimum score of the second look (see the module docstring for the measurement).
DEFAULT_VERIFY_THRESHOLD = 0.8
#: Face width in the verifier's input.
DEFAULT_VERIFY_FACE_PX = 64.0
#: The second look must find its face this close to the candidate (IoU).
VERIFY_IOU = 0.3
#: Per-frame mode (:meth:`FaceVerifier.filter`): a candidate whose first look (the detector's own
#: score) is at least this is accepted without a second look. Why: on a still with several faces
#: the second looks were the largest cost (4.2 of 13.2 ms CPU, five faces, bench_vs_fer), and no
#: non-face ever scored near it: the highest first look of 80 non-face candidates of
#: verify_sweep.py (the cat, chelsea, the clock, the moon, hubble, lfw non-face patches; scans at
#: 640x480 thr 0.3 and 256x192 thr 0.5) was 0.80, of 527 detections on 1,200 frames of the
#: non-face pan (bench_hd.py, 640x480 and 1280x720, 256x192 and 640x480 input) 0.77, of the
#: sample bag's cat 0.74; 0.1 above the highest. Same face recall on verify_sweep (97.8 % /
#: 98.6 %), 0 non-face kept; 54 % / 31 % of its face candidates skip the second look. The
#: perception loop's scans (`accept`) still verify every candidate (one look per new track).
CONFIDENT_FIRST_LOOK = 0.9


class FaceVerifier:
    """Accepts or refuses face candidates by a second detector look at each one.

    Args:
        manifest_path: manifest of the verifying detector.
        threshold: minimum score of the second look.
        face_px: width the candidate face is scaled to for the second look.
    """

    def __init__(
        self,
        manifest_path: str | os.PathLike[str],
        threshold: float = DEFAULT_VERIFY_THRESHOLD,
        face_px: float = DEFAULT_VERIFY_FACE_PX,
        intra_op_threads: int = 1,
        providers: Providers = None,
        verify_sha256: bool = True,
    ) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"verify threshold must be in [0, 1], got {threshold!r}")
        self.threshold = float(threshold)
        # The window detector keeps weak faces too, so `score` can report how close a call was.
        self._window = WindowDetector(
            manifest_path,
            face_px=face_px,
            window_scale=2.0,
            score_threshold=min(0.3, self.threshold),
            intra_op_threads=intra_op_threads,
            providers=providers,
            verify_sha256=verify_sha256,
        )
        self.checked = 0
        self.refused = 0

    def providers_in_use(self) -> dict[str, str]:
        """{model name: execution provider that runs it}."""
        return self._window.providers_in_use()

    def score(self, image: np.ndarray, detection: Detection) -> float:
        """Score of the second look at `detection` (0 when it finds no face on the spot)."""
        box = detection.box
        return _best_score(self._window.find(image, box_centre(box), box[2]), box)

    def scores(self, image: np.ndarray, detections: Sequence[Detection]) -> list[float]:
        """:meth:`score` of each detection, all second looks through the model in one run."""
        windows = [(box_centre(d.box), d.box[2], 1.0) for d in detections]
        return [
            _best_score(found, d.box)
            for found, d in zip(self._window.find_many(image, windows), detections, strict=True)
        ]

    def accept(self, image: np.ndarray, detection: Detection) -> bool:
        """True if the candidate is a face; counts the decision in `checked` / `refused`."""
        ok = self.score(image, detection) >= self.threshold
        self.checked += 1
        self.refused += 0 if ok else 1
        return ok

    def accept_many(self, image: np.ndarray, detections: Sequence[Detection]) -> list[bool]:
        """:meth:`accept` for several candidates of one frame, their looks in one batched run.

        The same decisions and counts as calling :meth:`accept` for each (the batched window
        outputs are bit-identical, test_core_window.py).
        """
        decisions = [s >= self.threshold for s in self.scores(image, detections)]
        self.checked += len(decisions)
        self.refused += decisions.count(False)
        return decisions

    def filter(
        self,
        image: np.ndarray,
        detections: Sequence[Detection],
        confident: float | None = CONFIDENT_FIRST_LOOK,
    ) -> list[Detection]:
        """The detections the verifier accepts, in their order (per-frame mode).

        One whose own score is at least `confident` (None: none) is accepted without a second
        look (:data:`CONFIDENT_FIRST_LOOK`; not counted in `checked`).
        """
        detections = list(detections)
        doubtful = [d for d in detections if confident is None or d.score < confident]
        if len(doubtful) <= 1:
            verdicts = [self.accept(image, d) for d in doubtful]
        else:
            verdicts = self.accept_many(image, doubtful)
        refused = {id(d) for d, ok in zip(doubtful, verdicts, strict=True) if not ok}
        return [d for d in detections if id(d) not in refused]


def _best_score(found: Sequence[Detection], box: Sequence[float]) -> float:
    """Highest score of the faces `found` that overlap `box` enough (0 if none)."""
    best = 0.0
    for face in found:
        if box_iou(face.box, box) >= VERIFY_IOU:
            best = max(best, face.score)
    return best
