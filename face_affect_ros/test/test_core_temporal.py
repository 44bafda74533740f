"""The temporal perception loop (core/temporal.py) and its parts, on real models and frames.

The moving sequence (bag/make_moving.py) is rendered here, deterministically, in short pieces.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from face_affect_ros.bag import make_moving as mm
from face_affect_ros.bag import make_sample
from face_affect_ros.bag.sequence_metrics import SequenceScore
from face_affect_ros.core.accumulate import EmotionFilter, EvidenceAccumulator
from face_affect_ros.core.detector import FaceDetector
from face_affect_ros.core.motion import ChangeMap, face_template, follow_template
from face_affect_ros.core.paths import model_manifest_path
from face_affect_ros.core.pipeline import FaceAffectPipeline, PipelineConfig
from face_affect_ros.core.temporal import PerceptionLoop, TemporalConfig
from face_affect_ros.core.tracking import box_iou
from face_affect_ros.core.verify import FaceVerifier
from face_affect_ros.core.window import WindowDetector, box_centre
from skimage import data


def _piece(t0: float, t1: float) -> list[tuple[float, np.ndarray, list[dict]]]:
    rate = mm.RATE_HZ
    return [
        (i / rate, mm.jpeg_round_trip(mm.render(i / rate)[0]), mm.render(i / rate)[1])
        for i in range(round(t0 * rate), round(t1 * rate))
    ]


@pytest.fixture(scope="module")
def loop_parts() -> FaceAffectPipeline:
    return FaceAffectPipeline(PipelineConfig())


def _signature(result) -> list[tuple]:
    return [
        (f.track_id, f.detection.box, f.emotion, f.emotion_scores, f.gender, f.gender_scores)
        for f in result.faces
    ]


# ---------------------------------------------------------------------------- accumulation
def test_gender_evidence_grows_more_certain_the_longer_a_face_is_seen() -> None:
    acc = EvidenceAccumulator(interval=0.5, max_looks=10)
    first = acc.update([0.4, 0.6], 0.0)[1]
    assert first == pytest.approx(0.6)
    after_1s = [acc.update([0.4, 0.6], 0.2 * k)[1] for k in range(1, 6)][-1]
    assert after_1s == pytest.approx(0.216 / 0.28, rel=1e-6)  # 3 looks of 0.6
    for k in range(6, 60):
        acc.update([0.4, 0.6], 0.2 * k)
    assert acc.looks == pytest.approx(10.0)
    assert acc.posterior()[1] == pytest.approx(1.5**10 / (1 + 1.5**10), rel=1e-6)


def test_gender_evidence_does_not_depend_on_the_classification_rate() -> None:
    slow, fast = EvidenceAccumulator(), EvidenceAccumulator()
    for k in range(11):
        slow.update([0.3, 0.7], 0.2 * k)
    for k in range(61):
        fast.update([0.3, 0.7], k / 30)
    assert fast.posterior() == pytest.approx(slow.posterior(), abs=1e-6)


def test_gender_evidence_is_generic_over_the_score_vector() -> None:
    # An age head with 4 bands accumulates the same way.
    acc = EvidenceAccumulator()
    for k in range(5):
        post = acc.update([0.1, 0.5, 0.3, 0.1], 0.5 * k)
    assert post.shape == (4,) and int(np.argmax(post)) == 1 and post[1] > 0.9


def test_emotion_filter_time_constant_is_in_seconds_not_frames() -> None:
    for rate in (5.0, 30.0):
        f = EmotionFilter(time_constant=0.4)
        f.update([1.0, 0.0], 0.0)
        n = round(0.4 * rate)
        for k in range(1, n + 1):
            est = f.update([0.0, 1.0], k / rate)
        assert est[1] == pytest.approx(1 - np.exp(-1), abs=1e-9)


def test_accumulators_refuse_bad_parameters() -> None:
    with pytest.raises(ValueError, match="interval"):
        EvidenceAccumulator(interval=0)
    with pytest.raises(ValueError, match="max_looks"):
        EvidenceAccumulator(max_looks=0.5)
    with pytest.raises(ValueError, match="time_constant"):
        EmotionFilter(time_constant=-1)


# ---------------------------------------------------------------------------- window, verify
def test_window_detector_finds_a_known_face_at_any_size() -> None:
    frame, truth = mm.render(1.0)
    far, far_truth = mm.render(10.0)  # astronaut at 20 px
    window = WindowDetector(model_manifest_path("yunet_n_dynamic"))
    assert window.side == 128
    for image, gt in ((frame, truth[0]), (far, far_truth[0])):
        found = window.find(image, box_centre(gt["box"]), gt["box"][2])
        assert found, gt
        assert box_iou(found[0].box, gt["box"]) > 0.5


def test_window_detector_off_the_frame_edge_is_black_not_an_error() -> None:
    frame, _ = mm.render(1.0)
    window = WindowDetector(model_manifest_path("yunet_n_dynamic"))
    assert window.find(frame, (-500.0, -500.0), 50.0) == []
    buf, *_ = window.window(frame, (0.0, 0.0), 50.0)
    assert buf[: buf.shape[0] // 4, : buf.shape[1] // 4].max() == 0


def test_verifier_refuses_the_cat_and_accepts_faces() -> None:
    # The sample bag's frame 50: the cat that `make demo` published as a "sad man".
    cat = make_sample.render(make_sample.world(), make_sample.pose(50))
    pushed = FaceDetector(
        model_manifest_path("yunet_n_dynamic"), input_size=(256, 192), score_threshold=0.5
    )
    candidates = pushed.detect(cat)
    assert candidates, "the default detector takes the cat for a face"
    verifier = FaceVerifier(model_manifest_path("yunet_s_dynamic"))
    assert verifier.filter(cat, candidates) == []
    assert verifier.refused == len(candidates)
    astronaut = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    faces = pushed.detect(astronaut)
    assert verifier.filter(astronaut, faces[:1]) == faces[:1]


# ---------------------------------------------------------------------------- the loop
def test_loop_tracks_a_still_face_with_steady_labels_and_decided_gender() -> None:
    loop = PerceptionLoop(PipelineConfig())
    score = SequenceScore(still_spans=(("astronaut#1", 0.5, 3.0),))
    for t, frame, truth in _piece(0.0, 3.0):
        score.add(t, truth, loop.step(frame, t).faces)
    assert score.recall == 1.0
    assert score.id_switches == 0 and score.false_tracks == 0
    assert score.flicker <= 0.2
    assert score.gender_decided_share >= 0.9 and score.gender_correct_share >= 0.9
    # Classified at classify_rate (5 Hz), not at the frame rate (30 Hz): the astronaut for 3 s
    # and the cameraman, who walks in at 2 s, for about 1 s.
    assert loop.counters.tracks_started == 2
    assert loop.counters.classified <= (3.0 * 5 + 1) + (1.0 * 5 + 1)


def test_loop_on_a_still_face_skips_scans_and_follows_between_detector_looks() -> None:
    frames = _piece(0.0, 1.8)  # the astronaut alone and still
    counters = {}
    for name, temporal in (
        ("default", TemporalConfig()),
        ("every time", TemporalConfig(track_look_rate=0.0, scan_idle_period=0.0)),
    ):
        loop = PerceptionLoop(PipelineConfig(), temporal)
        score = SequenceScore(still_spans=(("astronaut#1", 0.5, 1.8),))
        for t, frame, truth in frames:
            score.add(t, truth, loop.step(frame, t).faces)
        assert score.recall == 1.0 and score.false_tracks == 0 and score.id_switches == 0
        counters[name] = loop.counters
    quick, full = counters["default"], counters["every time"]
    # Scans every 0.3 s only where something changed: one scan (the first), the rest skipped.
    assert full.scans == 6 and full.scans_skipped == 0
    assert quick.scans == 1 and quick.scans_skipped >= 5
    # Detector looks at 10 Hz (and when classified), template follows in between.
    assert full.follows == 0 and full.window_looks >= len(frames) - 1
    assert quick.follows >= len(frames) // 2 and quick.window_looks <= len(frames) // 2


def test_a_confident_follow_stands_in_for_a_look_due_at_the_look_rate_not_for_classifying() -> None:
    """track_follow_confidence: a still face gets detector looks only when it is classified."""
    frames = _piece(0.0, 1.8)  # the astronaut alone and still
    counters = {}
    for confidence in (0.9, 0.0):
        loop = PerceptionLoop(PipelineConfig(), TemporalConfig(track_follow_confidence=confidence))
        score = SequenceScore(still_spans=(("astronaut#1", 0.5, 1.8),))
        for t, frame, truth in frames:
            before = loop.counters.classified
            faces = loop.step(frame, t).faces
            if loop.counters.classified > before:  # classified from a detector look, always
                assert faces and all(f.detector_look for f in faces)
            score.add(t, truth, faces)
        assert score.recall == 1.0 and score.false_tracks == 0 and score.id_switches == 0
        counters[confidence] = loop.counters
    confident, every = counters[0.9], counters[0.0]
    # 1.8 s: looks at 10 Hz without stand-ins; with them only the 5 Hz classification looks
    # (plus the first frame's), every look at 10 Hz that was not one of those followed.
    assert every.window_looks >= 17
    assert confident.window_looks <= confident.classified + 1 < every.window_looks
    assert confident.follows == every.follows + (every.window_looks - confident.window_looks)


def test_follow_confidence_is_a_localisation_parameter_and_off_wherever_masks_are_drawn() -> None:
    """A mask must not lag a face: the anonymised stream and the offline anonymiser look."""
    from face_affect_ros.core import anonymise
    from face_affect_ros.schema import params

    spec = params.SPEC_BY_NAME["track_follow_confidence"]
    assert (spec.min, spec.max, spec.default) == (0.0, 1.0, 0.9)
    assert "track_follow_confidence" in params.LOCALISATION_PARAMS
    assert params.temporal_config({"track_follow_confidence": 0.75}).track_follow_confidence == 0.75
    masked = params.temporal_config({"track_follow_confidence": 0.9, "anonymise": True})
    assert masked.track_follow_confidence == 0.0
    assert anonymise.recall_configs(640, 480)[1].track_follow_confidence == 0.0
    with pytest.raises(ValueError, match="track_follow_confidence"):
        TemporalConfig(track_follow_confidence=1.5)


def test_a_weak_follow_does_not_stand_in_for_a_due_look() -> None:
    """A face whose template no longer matches well is looked at on time (here: always)."""
    frames = _piece(0.0, 1.8)
    loop = PerceptionLoop(PipelineConfig(), TemporalConfig(track_follow_confidence=1.0))
    rng = np.random.default_rng(3)
    for t, frame, _ in frames:
        # Noise keeps every correlation below 1.0: no follow can stand in for a look.
        noisy = np.clip(frame + rng.integers(-3, 4, frame.shape), 0, 255).astype(np.uint8)
        loop.step(noisy, t)
    reference = PerceptionLoop(PipelineConfig(), TemporalConfig(track_follow_confidence=0.0))
    rng = np.random.default_rng(3)
    for t, frame, _ in frames:
        noisy = np.clip(frame + rng.integers(-3, 4, frame.shape), 0, 255).astype(np.uint8)
        reference.step(noisy, t)
    assert loop.counters.window_looks == reference.counters.window_looks >= 17


def test_on_a_still_scene_the_gate_rechecks_a_third_of_a_period_later_and_still_finds_faces() -> (
    None
):
    """After a skipped due scan the change map is read again 0.1 s later, not every frame."""
    scene = np.ascontiguousarray(data.coffee()[:480, :640, ::-1])
    face = cv2.resize(np.ascontiguousarray(data.astronaut()[0:240, 130:350, ::-1]), (60, 66))
    rng = np.random.default_rng(5)
    loop = PerceptionLoop(PipelineConfig(), TemporalConfig())  # scan_period 0.3 s
    appear, found = 2.05, None
    for i in range(90):
        t = i / 30
        frame = scene.copy()
        if t >= appear:
            frame[150:216, 380:440] = face
        noisy = np.clip(frame + rng.integers(-2, 3, frame.shape), 0, 255).astype(np.uint8)
        faces = loop.step(noisy, t).faces
        if t < appear:
            skipped = loop.counters.scans_skipped
        elif faces and found is None:
            found = t - appear
    # Still for 2.05 s: a scan at 0 s, due from 0.3 s on, checked every 0.1 s (not 52 times).
    assert 15 <= skipped <= 19
    # The face that appears is published within one scan period.
    assert found is not None and found <= 0.3


def test_gender_looks_at_every_classification_until_decided_then_once_per_interval() -> None:
    """Evidence counts one look per evidence_interval: a decided track's gender model waits."""
    loop = PerceptionLoop(PipelineConfig(), TemporalConfig())  # 5 Hz, interval 0.5 s
    decided_at, looks_at_decision, classified_at_decision = None, 0, 0
    for t, frame, _ in _piece(0.0, 1.9):  # the astronaut alone, still
        faces = loop.step(frame, t).faces
        if decided_at is None and faces and faces[0].gender != "unknown":
            decided_at = t
            looks_at_decision = loop.counters.evidence_looks
            classified_at_decision = loop.counters.classified
            assert looks_at_decision == classified_at_decision  # every classification so far
    assert loop.counters.tracks_started == 1
    assert decided_at is not None and decided_at < 1.0
    after = loop.counters.evidence_looks - looks_at_decision
    classified_after = loop.counters.classified - classified_at_decision
    # At most one gender look per 0.5 s once decided; emotion at every classification (5 Hz).
    assert after <= (1.9 - decided_at) / 0.5 + 1 < classified_after


def test_change_thumbnail_is_the_block_mean_of_the_grey_frame_to_a_grey_level() -> None:
    """The thumbnail averages colour 2x2 first: within one grey level of per-pixel conversion."""
    rng = np.random.default_rng(0)
    for shape in ((480, 640, 3), (483, 645, 3), (480, 640, 4), (480, 640), (7, 9, 3)):
        image = rng.integers(0, 256, shape, dtype=np.uint8)
        g = (
            image
            if image.ndim == 2
            else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY if shape[2] == 3 else cv2.COLOR_BGRA2GRAY)
        )
        rows, cols = max(1, g.shape[0] // 8), max(1, g.shape[1] // 8)
        thumb = ChangeMap.thumbnail(image)
        assert thumb.shape == (rows, cols) and thumb.dtype == np.float32
        if g.shape[0] >= 8 and g.shape[1] >= 8:
            blocks = g[: rows * 8, : cols * 8].reshape(rows, 8, cols, 8).mean(axis=(1, 3))
            assert np.abs(thumb - blocks).max() <= 1.0


def test_change_map_sees_a_new_face_only_outside_the_known_ones() -> None:
    scene = data.coffee()[:480, :600].copy()
    changes = ChangeMap()
    changes.set_reference(ChangeMap.thumbnail(scene))
    noisy = np.clip(
        scene.astype(np.int16) + np.random.default_rng(0).integers(-6, 7, scene.shape), 0, 255
    ).astype(np.uint8)
    assert not changes.changed_outside(ChangeMap.thumbnail(noisy), [])  # sensor noise
    face = cv2.resize(data.astronaut()[20:220, 150:330], (24, 28))
    with_face = scene.copy()
    with_face[300:328, 400:424] = face
    thumb = ChangeMap.thumbnail(with_face)
    assert changes.changed_outside(thumb, [])
    assert not changes.changed_outside(thumb, [(400, 300, 24, 28)])  # a known face moved there


def test_template_follow_finds_a_shifted_face() -> None:
    image = data.astronaut()[:, :, ::-1].copy()
    box = (170.0, 30.0, 120.0, 150.0)
    template = face_template(image, box)
    shifted = np.roll(image, (9, -14), axis=(0, 1))
    dx, dy, corr = follow_template(shifted, template, box)
    assert corr > 0.9
    assert abs(dx + 14) <= 120 / 24 and abs(dy - 9) <= 120 / 24  # within a template pixel
    # Near the frame's edge the search is clipped, not refused.
    assert follow_template(image, face_template(image, (0.0, 0.0, 80.0, 80.0)), (0, 0, 80, 80))


@pytest.mark.parametrize("regions", [True, False])
def test_loop_finds_a_far_face_entering_within_half_a_second(regions: bool) -> None:
    """With ``scan_regions`` the scans here cover only where the picture changed: same find."""
    loop = PerceptionLoop(PipelineConfig(), TemporalConfig(scan_regions=regions))
    found_at = None
    for t, frame, truth in _piece(9.5, 10.5):
        far = [g for g in truth if g["id"] == "cameraman#2"]
        faces = loop.step(frame, t).faces
        if (
            far
            and found_at is None
            and any(box_iou(f.detection.box, far[0]["box"]) > 0.3 for f in faces)
        ):
            found_at = t
    assert found_at is not None and found_at - 9.5 <= 0.5
    assert (loop.counters.region_scans > 0) == regions


def test_change_map_gives_the_extent_of_the_changes_outside_the_known_faces() -> None:
    cm = ChangeMap()
    still = np.zeros((480, 640, 3), np.uint8)
    assert cm.changed_box(ChangeMap.thumbnail(still), []) == (0, 0, 640, 480)  # no reference
    cm.set_reference(ChangeMap.thumbnail(still))
    assert cm.changed_box(ChangeMap.thumbnail(still), []) is None
    moved = still.copy()
    moved[100:140, 200:232] = 255  # something new
    moved[300:340, 400:440] = 255  # a known face moved
    thumb = ChangeMap.thumbnail(moved)
    assert cm.changed_box(thumb, [(400.0, 300.0, 40.0, 40.0)]) == (200, 96, 232, 144)
    assert cm.changed_box(thumb, []) == (200, 96, 440, 344)


def test_loop_never_publishes_the_cat_or_non_face_footage() -> None:
    loop = PerceptionLoop(PipelineConfig())
    for t, frame, truth in _piece(11.5, 12.0):
        cat = next(g for g in truth if g["kind"] == "nonface")
        for face in loop.step(frame, t).faces:
            assert box_iou(face.detection.box, cat["box"]) < 0.1
    loop.reset()
    for t, frame in mm.nonface_frames(45):
        assert loop.step(frame, 100.0 + t).faces == ()


def test_loop_is_deterministic_given_the_frames() -> None:
    frames = _piece(4.0, 5.0)
    runs = []
    for _ in range(2):
        loop = PerceptionLoop(PipelineConfig())
        runs.append([_signature(loop.step(frame, t)) for t, frame, _ in frames])
    assert runs[0] == runs[1]
    assert any(runs[0])


def test_per_frame_mode_is_the_pipeline_process(loop_parts: FaceAffectPipeline) -> None:
    config = PipelineConfig(tracking=False)
    loop = PerceptionLoop(config)
    pipeline = FaceAffectPipeline(config)
    for t, frame, _ in _piece(2.5, 2.7):
        assert _signature(loop.step(frame, t)) == _signature(pipeline.process(frame))


def test_time_going_backwards_starts_a_new_stream() -> None:
    loop = PerceptionLoop(PipelineConfig())
    frames = _piece(0.0, 0.2)
    first = [loop.step(frame, t).faces for t, frame, _ in frames]
    assert first[-1][0].track_id == "face_1"
    again = loop.step(frames[0][1], 0.0)
    assert again.faces[0].track_id == "face_1" and loop.track_count == 1


def test_after_a_pause_a_track_continues_only_on_its_own_spot() -> None:
    """After a pause longer than track_lost_after (a stalled stream, a bag's gap, stills) a
    track gets only the narrow window look: where it went is unknown.

    A wide look took a face-like patch nearby for the old track, and the scan then skipped the
    real face on that spot as known (bench_anonymise's stills). A face still on its spot (a
    1 Hz stream of a still scene) keeps its track.
    """
    frame0 = mm.jpeg_round_trip(mm.render(0.0)[0])
    moved = mm.jpeg_round_trip(mm.render(5.0)[0])  # the astronaut 60 px away, half the size
    gap = 10.0
    assert gap > PerceptionLoop(PipelineConfig()).temporal.track_lost_after
    loop = PerceptionLoop(PipelineConfig())
    assert [f.track_id for f in loop.step(frame0, 0.0).faces] == ["face_1"]
    ids = [f.track_id for f in loop.step(moved, gap).faces]
    assert ids and "face_1" not in ids
    # The same scene 1 s later (longer than track_lost_after, shorter than the scan's idle
    # period, so no scan runs): the narrow look keeps the track.
    loop = PerceptionLoop(PipelineConfig())
    assert [f.track_id for f in loop.step(frame0, 0.0).faces] == ["face_1"]
    assert [f.track_id for f in loop.step(frame0, 1.0).faces] == ["face_1"]


def test_step_refuses_bad_input_with_a_reason() -> None:
    loop = PerceptionLoop(PipelineConfig())
    with pytest.raises(ValueError, match="stamp"):
        loop.step(np.zeros((48, 64, 3), np.uint8), float("nan"))
    with pytest.raises(ValueError, match="dtype"):
        loop.step(np.zeros((48, 64, 3), np.float32), 0.0)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("scan_period", -1.0),
        ("classify_rate", 0.0),
        ("scan_input_size", (16, 480)),
        ("track_window_scale", 10.0),
        ("emotion_time_constant", float("inf")),
    ],
)
def test_temporal_config_refuses_out_of_range(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        TemporalConfig(**{field: value})


# ---------------------------------------------------------------------------- the sequence
def test_moving_sequence_is_a_function_of_time_with_ground_truth() -> None:
    a, truth_a = mm.render(5.0)
    b, truth_b = mm.render(5.0)
    assert np.array_equal(a, b) and truth_a == truth_b
    assert a.shape == (mm.HEIGHT, mm.WIDTH, 3)
    ids = {g["id"] for t in np.arange(0, mm.FACE_SECONDS, 0.5) for g in mm.render(t)[1]}
    assert ids == {"astronaut#1", "astronaut#2", "cameraman#1", "cameraman#2", "cat"}
    widths = [g["box"][2] for t in np.arange(3.0, 10.5, 0.25) for g in mm.render(t)[1]]
    assert min(widths) == pytest.approx(20.0, abs=0.5)
    assert mm.render(16.0)[1][-1]["expression"] == "frown"


def test_moving_sequence_bag_and_truth_are_written(tmp_path) -> None:
    import json

    from face_affect_ros.bag import storage as bs

    out = tmp_path / "moving.mcap"
    truth_path = mm.build(out, seconds=0.2)
    meta = json.loads(truth_path.read_text())
    assert len(meta["frames"]) == 6 and meta["frames"][0]["truth"][0]["id"] == "astronaut#1"
    with bs.open_bag(out) as reader:
        assert sum(1 for _ in bs.iter_messages(reader, out)) == 6


def test_loop_accumulates_age_like_gender() -> None:
    loop = PerceptionLoop(PipelineConfig(age=True))
    spreads = []
    for t, frame, _ in _piece(0.0, 1.6):
        faces = loop.step(frame, t).faces
        assert faces and faces[0].age_scores and faces[0].age_years is not None
        spreads.append(faces[0].age_spread)
    # More looks at the same face: the accumulated age distribution narrows.
    assert spreads[-1] < spreads[0]


# ---------------------------------------------------------------------------- the two halves
def _cut_sequence() -> list[tuple[float, np.ndarray, list[dict]]]:
    """1 s of non-face footage, then a cut to the moving sequence's faces (t = 4 s)."""
    rate = mm.RATE_HZ
    frames = [(t, f, []) for t, f in mm.nonface_frames(rate)]
    for i in range(6):
        image, truth = mm.render(4.0 + i / rate)
        frames.append((1.0 + i / rate, mm.jpeg_round_trip(image), truth))
    return frames


@pytest.mark.parametrize("cut_fraction", [0.5, 0.0])
def test_a_cut_scans_at_once_so_new_faces_appear_within_two_frames(
    loop_parts: FaceAffectPipeline, cut_fraction: float
) -> None:
    # scan_period 5 s: without cut detection the next scan is far away.
    loop = PerceptionLoop(
        pipeline=loop_parts, temporal=TemporalConfig(scan_period=5.0, cut_fraction=cut_fraction)
    )
    frames = _cut_sequence()
    found_at = None
    for k, (t, image, truth) in enumerate(frames):
        result = loop.step(image, t)
        faces = [g for g in truth if g["kind"] == "face"]
        if faces and found_at is None and len(result.faces) >= len(faces):
            found_at = k - mm.RATE_HZ  # frames after the cut
    if cut_fraction > 0:
        assert found_at is not None and found_at <= 1
        assert loop.counters.cuts == 1
    else:
        assert found_at is None and loop.counters.cuts == 0


def test_the_halves_composed_by_hand_give_perception_loop_output(
    loop_parts: FaceAffectPipeline,
) -> None:
    from face_affect_ros.core.affect import AffectLoop
    from face_affect_ros.core.localise import LocalisationLoop

    temporal = TemporalConfig()
    whole = PerceptionLoop(pipeline=loop_parts, temporal=temporal)
    stage = loop_parts.detector_stage
    loc = LocalisationLoop(loop_parts.config, temporal, verifier=lambda: stage.verifier)
    aff = AffectLoop(loop_parts.classifier_stage, temporal)
    for t, image, _ in _piece(2.0, 3.0):
        expected = whole.step(image, t)
        located = loc.step(image, t)
        assert all(f.track_id for f in located.faces)
        assert _signature(aff.step(image, t, located.faces)) == _signature(expected)


def test_affect_half_classifies_each_track_at_classify_rate_not_every_frame(
    loop_parts: FaceAffectPipeline,
) -> None:
    from face_affect_ros.core.affect import AffectLoop
    from face_affect_ros.core.localise import TrackedFace

    aff = AffectLoop(loop_parts.classifier_stage, TemporalConfig(classify_rate=5.0))
    det = FaceDetector(model_manifest_path("yunet_n_dynamic"), input_size=(640, 480))
    image, _ = mm.render(2.0)
    faces = tuple(TrackedFace(f"face_{i + 1}", d) for i, d in enumerate(det.detect(image)))
    assert faces
    for k in range(30):  # 1 s at 30 Hz
        aff.step(image, k / 30, faces)
    assert aff.counters.classified == 5 * len(faces)
    with pytest.raises(ValueError, match="distinct"):
        aff.step(image, 2.0, faces + faces[:1])
