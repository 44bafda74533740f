"""HD frames: the scan's native-resolution tiles (core/tiles.py, issue 20), on real models.

A 20 px face in a 1280x720 frame is 10 px in the whole-frame scan (640x480 input): too small.
The tiles find it within one rotation; 640x480 frames have no tiles and behave as before.
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
import pytest
from face_affect_ros.bag import make_moving as mm
from face_affect_ros.core.detector import FaceDetector
from face_affect_ros.core.paths import model_manifest_path
from face_affect_ros.core.pipeline import PipelineConfig
from face_affect_ros.core.temporal import PerceptionLoop, TemporalConfig
from face_affect_ros.core.tiles import COARSE_FACE_PX, coarse_scale, tile_grid
from face_affect_ros.schema import params

SCAN = TemporalConfig().scan_input_size


# ---------------------------------------------------------------------------- the grid
@pytest.mark.parametrize("size", [(640, 480), (320, 240), (480, 480), (640, 360)])
def test_frames_that_fit_the_scan_input_have_no_tiles(size: tuple[int, int]) -> None:
    assert tile_grid(*size, SCAN) == ()


@pytest.mark.parametrize(
    ("size", "count"),
    [((1280, 720), 4), ((1920, 1080), 9), ((1280, 960), None), ((3840, 2160), None)],
)
def test_tiles_cover_the_frame_overlap_by_a_coarse_face_and_cost_one_scan_each(
    size: tuple[int, int], count: int | None
) -> None:
    width, height = size
    tiles = tile_grid(width, height, SCAN)
    if count is not None:
        assert len(tiles) == count
    covered = np.zeros((height, width), bool)
    for x, y, w, h in tiles:
        assert w * h <= SCAN[0] * SCAN[1]
        assert x >= 0 and y >= 0 and x + w <= width and y + h <= height
        covered[y : y + h, x : x + w] = True
    assert covered.all()
    # Any face up to the overlap (COARSE_FACE_PX scan pixels, in frame pixels) is whole in a tile.
    side = int(COARSE_FACE_PX / coarse_scale(width, height, SCAN))
    rng = np.random.default_rng(0)
    for fx, fy in zip(
        rng.integers(0, width - side, 300), rng.integers(0, height - side, 300), strict=True
    ):
        assert any(
            x <= fx and y <= fy and fx + side <= x + w and fy + side <= y + h
            for x, y, w, h in tiles
        )


def test_native_detection_runs_the_model_at_the_image_s_own_resolution() -> None:
    manifest = model_manifest_path("yunet_n_dynamic")
    frame = mm.jpeg_round_trip(mm.render(4.0)[0])
    small = FaceDetector(manifest, input_size=(256, 192), score_threshold=0.6)
    full = FaceDetector(manifest, input_size=(640, 480), score_threshold=0.6)
    assert small.detect(frame, native=True) == full.detect(frame)
    assert small.detect(frame) != full.detect(frame)  # the default path is unchanged


# ---------------------------------------------------------------------------- the loop
def _hd_stream(
    width: int, height: int, face_px: float, centre: tuple[float, float], n: int
) -> Iterator[tuple[float, np.ndarray, tuple[float, ...]]]:
    """`n` frames at 30 Hz: the cameraman's face `face_px` wide at `centre`, swaying a pixel.

    (The astronaut's face, sharper, is found at 20 px in 1280x720 without tiles; at 16 px not.)
    """
    sprite = mm.sprites()["cameraman"]
    bg = cv2.resize(mm.background(), (width, height), interpolation=cv2.INTER_LINEAR)
    fx, fy, fw, fh = sprite.face
    scale = face_px / fw
    image, alpha = sprite.image, sprite.alpha
    while scale < 0.5:
        image, alpha, scale = cv2.pyrDown(image), cv2.pyrDown(alpha), scale * 2
        fx, fy, fw, fh = fx / 2, fy / 2, fw / 2, fh / 2
    for i in range(n):
        cx = centre[0] + 0.6 * np.sin(i / 5)
        m = np.array(
            [
                [scale, 0.0, cx - scale * (fx + fw / 2)],
                [0.0, scale, centre[1] - scale * (fy + fh / 2)],
            ]
        )
        warped = cv2.warpAffine(image, m, (width, height), flags=cv2.INTER_LINEAR)
        a = cv2.warpAffine(alpha, m, (width, height), flags=cv2.INTER_LINEAR)[:, :, None]
        frame = (bg * (1.0 - a) + warped * a).astype(np.uint8)
        w, h = face_px, fh * scale
        yield i / 30.0, mm.jpeg_round_trip(frame), (cx - w / 2, centre[1] - h / 2, w, h)


def _found(faces, box) -> bool:
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    return any(
        abs(f.detection.box[0] + f.detection.box[2] / 2 - cx) < 0.5 * box[2]
        and abs(f.detection.box[1] + f.detection.box[3] / 2 - cy) < 0.5 * box[3]
        for f in faces
    )


@pytest.mark.parametrize("centre", [(1000.0, 560.0), (640.0, 360.0)])
def test_a_20px_face_in_1280x720_is_found_within_one_rotation_of_tiles(
    centre: tuple[float, float],
) -> None:
    """(640, 360): on the seam of all four tiles, in their overlap."""
    temporal = TemporalConfig()
    rotation = len(tile_grid(1280, 720, SCAN)) * temporal.scan_tile_period
    frames = list(_hd_stream(1280, 720, 20.0, centre, round((rotation + 0.2) * 30)))
    new, old = (
        PerceptionLoop(PipelineConfig(), temporal),
        PerceptionLoop(PipelineConfig(), TemporalConfig(scan_tile_period=0.0, scan_regions=False)),
    )
    found_new = [t for t, frame, box in frames if _found(new.step(frame, t).faces, box)]
    found_old = [t for t, frame, box in frames if _found(old.step(frame, t).faces, box)]
    assert found_new and found_new[0] <= rotation + 0.1
    assert found_new[-1] == frames[-1][0]  # tracked from then on
    assert new.counters.tile_scans >= 1
    assert not found_old  # the whole-frame scan alone sees it at 10 px: not found


def test_a_large_face_across_a_tile_seam_is_one_track() -> None:
    """A 150 px face across the seam of 1280x720's tiles is the whole-frame scan's; a tile's
    cut part of it is no new face (a regression guard: bench_take's 720p frame gave 3 extra
    tracks that way before the cut-margin and inside rules; this synthetic face does not make
    YuNet fire on the part)."""
    loop = PerceptionLoop(PipelineConfig())
    for t, frame, box in _hd_stream(1280, 720, 150.0, (590.0, 250.0), 30):
        faces = loop.step(frame, t).faces
        assert _found(faces, box) and len(faces) == 1
    assert loop.counters.tile_scans == 4 and loop.counters.tracks_started == 1


def test_640x480_frames_run_no_tiles_and_give_the_same_output() -> None:
    frames = [(t, mm.jpeg_round_trip(mm.render(t)[0])) for t in (i / 30 for i in range(270, 300))]
    runs = []
    for period in (TemporalConfig().scan_tile_period, 0.0):
        loop = PerceptionLoop(PipelineConfig(), TemporalConfig(scan_tile_period=period))
        out = [
            [(f.track_id, f.detection, f.emotion_scores) for f in loop.step(frame, t).faces]
            for t, frame in frames
        ]
        runs.append(out)
        assert loop.counters.tile_scans == 0 and loop.counters.tiles_skipped == 0
    assert runs[0] == runs[1] and any(runs[0])


def test_hd_non_face_footage_gives_no_tracks_and_still_tiles_skip() -> None:
    loop = PerceptionLoop(PipelineConfig())
    still = next(_hd_stream(1280, 720, 20.0, (-100.0, -100.0), 1))[1]  # no face in view
    for i in range(75):
        assert loop.step(still, i / 30).faces == ()
    c = loop.counters
    # Every tile once (the last one's remainder, which no other tile covered, may be looked at
    # as a part), then nothing changed: one zoomed tile per scan_idle_period (the first right
    # after the tiles, the second ~2 s later).
    assert c.tile_scans + c.region_looks == 4 + 2 and c.tile_scans >= 3 and c.tiles_skipped >= 8


# ---------------------------------------------------------------------------- the parameter
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("scan_tile_period", -0.1),
        ("scan_tile_period", 61.0),
        ("scan_tile_period", float("nan")),
        ("scan_tile_period", True),
        ("scan_tile_period", "0.3"),
        ("scan_tile_threshold", 0.0),
        ("scan_tile_threshold", 1.5),
        ("scan_regions", 1),
        ("scan_regions", "true"),
    ],
)
def test_tile_parameters_are_validated(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        TemporalConfig(**{field: value})


@pytest.mark.parametrize(
    ("name", "lo", "hi", "value"),
    [("scan_tile_period", 0.0, 60.0, 0.0), ("scan_tile_threshold", 0.05, 1.0, 0.6)],
)
def test_tile_parameters_are_localisation_parameters_of_the_nodes_that_scan(
    name: str, lo: float, hi: float, value: float
) -> None:
    spec = params.SPEC_BY_NAME[name]
    assert spec.stage == params.LOCALISE and not spec.read_only
    assert (spec.min, spec.max, spec.default) == (lo, hi, getattr(TemporalConfig(), name))
    nodes = {n for n in params.NODE_NAMES if spec in params.specs_for(n)}
    assert nodes == {"detector_node", "face_affect_node"}
    assert getattr(params.temporal_config({name: value}), name) == value
    assert name in params.LOCALISATION_PARAMS


def test_tile_order_prefers_changed_and_oldest_tiles() -> None:
    from face_affect_ros.core.localise import _TileRotation

    rotation = _TileRotation()
    tiles = rotation.grid(1280, 720, SCAN)
    blank = np.zeros((90, 160), np.float32)
    picked = [rotation.pick(blank, [], 0.1 * k, 2.0, 10.0) for k in range(4)]
    assert picked == [0, 1, 2, 3]  # never scanned: row-major
    assert rotation.pick(blank, [], 0.5, 2.0, 10.0) is None  # nothing changed
    changed = blank.copy()
    x, y, _, h = tiles[2]
    changed[(y + h) // 8 - 2, x // 8 + 2] = 200.0  # a block only tile 2 holds
    assert rotation.pick(changed, [], 0.6, 2.0, 10.0) == 2
    # ... unless the change is a known face's
    changed2 = changed.copy()
    changed2[(y + h) // 8 - 3, x // 8 + 3] = 100.0
    box = [((x // 8 + 3) * 8.0, ((y + h) // 8 - 3) * 8.0, 8.0, 8.0)]
    assert rotation.pick(changed2, box, 0.7, 2.0, 10.0) is None
    # a still picture has no tile to pick (it gets zoomed tiles: next test)
    assert rotation.pick(changed, [], 2.5, 2.0, 10.0) is None
    # a change still goes first at once
    assert rotation.pick(blank, [], 2.6, 2.0, 10.0) == 2


def test_a_still_picture_gets_one_zoomed_tile_per_idle_period() -> None:
    from face_affect_ros.core.localise import REGION_ZOOM, _TileRotation
    from face_affect_ros.core.tiles import zoom_grid

    rotation = _TileRotation()
    tiles = rotation.grid(1280, 720, SCAN)
    zoomed = zoom_grid(1280, 720, SCAN, REGION_ZOOM)
    assert len(zoomed) == 9
    for _, _, w, h in zoomed:
        assert w * h * REGION_ZOOM**2 <= SCAN[0] * SCAN[1] * 1.01
    still = np.zeros((90, 160), np.float32)
    stamps = [0.15 * k for k in range(len(tiles) + 3)]
    looks = [rotation.looks(still, [], t, 2.0, 10.0) for t in stamps]
    # every tile at native resolution (the last one's remainder may be one part), then the
    # first zoomed tile at REGION_ZOOM, then nothing until scan_idle_period has passed
    assert looks[: len(tiles) - 1] == [[(t, 1.0)] for t in tiles[:-1]]
    assert len(looks[len(tiles) - 1]) == 1 and None not in rotation.scanned
    assert looks[len(tiles)] == [(zoomed[0], REGION_ZOOM)]
    assert looks[-2:] == [[], []]
    t = stamps[len(tiles)] + 2.0
    assert rotation.looks(still, [], t, 2.0, 10.0) == [(zoomed[1], REGION_ZOOM)]
    assert rotation.looks(still, [], t + 0.15, 2.0, 10.0) == []
    assert rotation.looks(still, [], t + 2.0, 2.0, 10.0) == [(zoomed[2], REGION_ZOOM)]


def test_scan_regions_is_a_runtime_localisation_switch() -> None:
    spec = params.SPEC_BY_NAME["scan_regions"]
    assert spec.stage == params.LOCALISE and not spec.read_only and spec.default is True
    assert params.temporal_config({"scan_regions": False}).scan_regions is False


# ---------------------------------------------------------------------------- native looks
def test_changed_regions_group_changed_blocks_grow_them_and_merge_overlaps() -> None:
    from face_affect_ros.core.tiles import changed_regions

    mask = np.zeros((90, 160), bool)
    mask[10, 10] = mask[10, 11] = True  # one group: blocks 10-11 of row 10
    mask[60, 100] = True  # far away: its own part
    mask[12, 20] = True  # 8 blocks to the right of the first: grown parts overlap, merged
    parts = changed_regions(mask, 8, 48, 1280, 720)
    assert len(parts) == 2
    big, small = parts
    assert small == (800 - 48, 480 - 48, 8 + 96, 8 + 96)
    assert big == (80 - 48, 80 - 48, 168 - 80 + 96, 104 - 80 + 96)
    # clipped to the frame
    edge = np.zeros((90, 160), bool)
    edge[0, 0] = True
    assert changed_regions(edge, 8, 48, 1280, 720) == [(0, 0, 56, 56)]


def test_native_looks_scan_small_changes_upscaled_and_leave_known_persons_alone() -> None:
    from face_affect_ros.core.localise import REGION_ZOOM, _TileRotation

    rotation = _TileRotation()
    tiles = rotation.grid(1920, 1080, SCAN)
    still = np.zeros((135, 240), np.float32)
    first = [rotation.looks(still, [], 0.1 * k, 2.0, 10.0) for k in range(len(tiles))]
    assert [look for looks in first[:-1] for look in looks] == [(t, 1.0) for t in tiles[:-1]]
    # what no tile covered yet is the last tile's part: as one part or as that tile
    assert len(first[-1]) == 1 and None not in rotation.scanned
    rotation.zoom_scanned = [0.0] * len(rotation.zoom_tiles)  # (zoomed tiles: next test)
    rotation.idle_last = 0.9
    assert rotation.looks(still, [], 1.0, 2.0, 10.0) == []  # nothing changed
    moved = still.copy()
    moved[50:52, 100:103] = 100.0  # someone 24 px wide walks in
    looks = rotation.looks(moved, [], 1.1, 2.0, 10.0)
    assert len(looks) == 1
    (x, y, w, h), zoom = looks[0]
    assert zoom == REGION_ZOOM and x <= 800 and y <= 400 and x + w >= 824 and y + h >= 416
    assert w * h < tiles[0][2] * tiles[0][3] / 4  # a fraction of a tile's pixels
    assert rotation.looks(moved, [], 1.2, 2.0, 10.0) == []  # looked at: done
    # a change in a known face's person (hair, shoulders below it) is no reason to look
    nod = moved.copy()
    nod[54:56, 100:103] = 0.0
    face = (800.0, 400.0, 24.0, 24.0)
    assert rotation.looks(nod, [face], 1.3, 2.0, 10.0) == []
    # most of the picture changed (a pan): a whole tile at native resolution
    pan = still + 50.0
    looks = rotation.looks(pan, [], 1.4, 2.0, 10.0)
    assert len(looks) == 1 and looks[0][1] == 1.0 and looks[0][0] in tiles


def test_a_new_face_takes_the_schedule_of_the_oldest_face_in_view() -> None:
    """Two faces found 0.1 s apart are classified (and looked at) on the same frames after."""
    sprite = mm.sprites()["cameraman"]
    bg = mm.background()
    loop = PerceptionLoop(PipelineConfig())

    def paste(frame: np.ndarray, x: int) -> None:
        fw = sprite.face[2]
        scale = 60.0 / fw
        img = cv2.resize(sprite.image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        a = cv2.resize(sprite.alpha, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        h, w = img.shape[:2]
        roi = frame[100 : 100 + h, x : x + w]
        roi[:] = (roi * (1.0 - a[:, :, None]) + img * a[:, :, None]).astype(np.uint8)

    for i in range(45):
        frame = bg.copy()
        paste(frame, 60)
        if i >= 4:  # the second face comes into view 4 frames later
            paste(frame, 380)
        loop.step(mm.jpeg_round_trip(frame), i / 30)
    assert loop.localisation is not None and loop.affect is not None
    tracks = loop.localisation._tracks
    assert len(tracks) == 2 and tracks[0].born < tracks[1].born
    assert tracks[0].classify_mark == tracks[1].classify_mark
    marks = {k: e.classified_at for k, e in loop.affect._tracks.items()}
    assert len(set(marks.values())) == 1 and marks["face_1"] == tracks[0].classify_mark
