"""Tests for tfrecords_tools.faces: Haar detection, tracking crops, image coding."""

import cv2
import numpy as np
import pytest

from tfrecords_tools import faces, synthetic
from tfrecords_tools.faces import FaceCropper


@pytest.fixture(scope="module")
def face_frames():
    """40 synthetic face frames (1.6 s), 160x160, with head motion and changing labels."""
    labels = synthetic.synthetic_labels(40, seed=11)
    return synthetic.synthetic_frames(labels[:, 1], labels[:, 0], size=160, seed=11)


def test_detector_finds_the_synthetic_face(face_frames):
    found = [faces.detect_faces(frame) for frame in face_frames[::2]]
    rate = np.mean([len(boxes) > 0 for boxes in found])
    assert rate >= 0.95  # measured: 1.0 on 500-frame recordings
    x, y, width, height = found[0][0]
    # The drawn head is centred near (80, 83) and about 83 x 108 pixels.
    assert 60 < x + width / 2 < 100 and 60 < y + height / 2 < 105
    assert 60 < width < 140


def test_detect_mode_crops_follow_the_face():
    frame = synthetic.synthetic_frames(np.zeros(1), np.zeros(1), size=128, seed=3)[0]
    canvas = np.full((240, 320, 3), 90, np.uint8)
    canvas[100:228, 180:308] = frame  # face centred near (244, 166)
    cropper = FaceCropper(size=64)
    crop = cropper.crop(canvas)
    assert crop.shape == (64, 64, 3) and crop.dtype == np.uint8
    x0, y0, side = cropper.last_crop_box
    assert abs(x0 + side / 2 - 244) < 12 and abs(y0 + side / 2 - 166) < 15
    assert cropper.frames == 1 and cropper.missed == 0


def test_missed_detection_reuses_last_box(face_frames):
    cropper = FaceCropper(size=96)
    cropper.crop(face_frames[0])
    box = cropper.last_crop_box
    blank = np.full_like(face_frames[0], 128)
    crop = cropper.crop(blank)
    assert cropper.last_crop_box == box
    assert np.all(crop == 128)  # the same square of a blank frame
    assert (cropper.frames, cropper.detections_run, cropper.missed) == (2, 2, 1)
    assert cropper.missed_fraction == 0.5
    cropper.reset()
    assert cropper.face_box is None and cropper.frames == 0 and cropper.missed_fraction == 0.0


def test_centre_crop_before_first_detection():
    cropper = FaceCropper(size=32)
    blank = np.zeros((120, 200, 3), np.uint8)
    blank[:, 40:160] = 200  # the central 120 x 120 square is bright
    crop = cropper.crop(blank)
    assert cropper.last_crop_box == (40, 0, 120)
    assert np.all(crop == 200)
    assert cropper.missed == 1


def test_box_smoothing_is_an_exponential_moving_average(face_frames):
    first, second = face_frames[0], np.roll(face_frames[0], 12, axis=1)
    box_a, box_b = faces.detect_faces(first)[0], faces.detect_faces(second)[0]

    def centre_side(box):
        x, y, w, h = box
        return np.array([x + w / 2, y + h / 2, max(w, h)])

    cropper = FaceCropper(mode="detect", smoothing=0.75, track=False)  # full frame every time
    cropper.crop(first)
    np.testing.assert_allclose(cropper.face_box, centre_side(box_a))
    cropper.crop(second)
    expected = 0.75 * centre_side(box_a) + 0.25 * centre_side(box_b)
    np.testing.assert_allclose(cropper.face_box, expected)


def test_tracking_finds_the_same_face_near_the_last_box_and_follows_a_jump(face_frames):
    tracked, full = FaceCropper(size=64), FaceCropper(size=64, track=False)
    for frame in face_frames:
        tracked.crop(frame)
        full.crop(frame)
        (xa, ya, sa), (xb, yb, sb) = tracked.last_crop_box, full.last_crop_box
        # Same face: centres within 8% of the crop side, sides within 12%.
        assert abs((xa + sa / 2) - (xb + sb / 2)) < 0.08 * sb, (tracked.frames, xa, xb)
        assert abs((ya + sa / 2) - (yb + sb / 2)) < 0.08 * sb, (tracked.frames, ya, yb)
        assert abs(sa - sb) < 0.12 * sb, (tracked.frames, sa, sb)
    # Every run after the first was answered near the tracked face.
    assert tracked.detections_run == len(face_frames) and tracked.missed == full.missed == 0
    assert tracked.tracked == len(face_frames) - 1 and full.tracked == 0
    # The face jumps to the other side of a wider frame: not near the tracked box, so the
    # whole frame is searched and the box moves there.
    canvas = np.full((160, 480, 3), 90, np.uint8)
    canvas[:, 320:] = face_frames[-1]
    tracked.crop(canvas)
    assert tracked.tracked == len(face_frames) - 1 and tracked.missed == 0  # whole frame
    for _ in range(6):  # the smoothed box (0.6 old + 0.4 found) converges there
        tracked.crop(canvas)
    x0, _, side = tracked.last_crop_box
    assert x0 + side / 2 > 320 and tracked.missed == 0
    boxes = faces.detect_faces_near(canvas, tracked.face_box)
    assert len(boxes) == 1 and boxes[0][0] > 320  # full-frame coordinates
    with pytest.raises(ValueError, match="box side must be > 0"):
        faces.detect_faces_near(canvas, (10, 10, 0))


def _tilted(frame, degrees):
    """`frame` rotated counter-clockwise about its centre (a head tilted by `degrees`)."""
    height, width = frame.shape[:2]
    rotation = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    return cv2.warpAffine(frame, rotation, (width, height), borderMode=cv2.BORDER_REPLICATE)


def test_a_head_that_tilts_while_tracked_is_kept():
    """The frontal cascade misses heads tilted beyond ~20 degrees; near the tracked face
    the search also runs on the square rotated by +-25 degrees."""
    labels = synthetic.synthetic_labels(60, seed=11)
    frames = synthetic.synthetic_frames(labels[:, 1], labels[:, 0], size=160, seed=11)
    angles = np.linspace(0, 40, 60)  # the head tilts from upright to 40 degrees
    tilted = [_tilted(frame, angle) for frame, angle in zip(frames, angles, strict=True)]
    x, y, w, h = faces.detect_faces(frames[0])[0]
    upright_centre = np.array([x + w / 2, y + h / 2])
    searching = FaceCropper(size=64, mode="detect")
    upright_only = FaceCropper(size=64, mode="detect", tilt_angles=())
    for frame in tilted:
        searching.crop(frame)
        upright_only.crop(frame)
    assert searching.missed == 0 and searching.tilted > 15
    assert upright_only.missed > 15 and upright_only.tilted == 0
    # The rotated search maps the box back onto the tilted face: near the upright face's
    # centre turned by the last frame's angle (the smoothed box lags a little).
    rotation = cv2.getRotationMatrix2D((80, 80), angles[-1], 1.0)
    expected = rotation[:, :2] @ upright_centre + rotation[:, 2]
    assert np.abs(np.array(searching.face_box[:2]) - expected).max() < 8
    # One call: the last frame is found rotated one way, not upright.
    box = searching.face_box
    assert len(faces.detect_faces_near(tilted[-1], box)) == 0
    found = [len(faces.detect_faces_near(tilted[-1], box, angle=a)) for a in (-25.0, 25.0)]
    assert found[0] + found[1] >= 1


def test_detect_every(face_frames):
    cropper = FaceCropper(detect_every=3)
    for frame in face_frames[:7]:
        cropper.crop(frame)
    assert cropper.frames == 7 and cropper.detections_run == 3


def test_centre_mode():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (100, 160, 3), dtype=np.uint8)
    cropper = FaceCropper(size=50, mode="centre")
    crop = cropper.crop(frame)
    expected = cv2.resize(frame[:, 30:130], (50, 50), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(crop, expected)
    assert cropper.detections_run == 0 and cropper.missed_fraction == 0.0
    assert FaceCropper(mode="center").mode == "centre"


def test_crop_larger_than_frame_is_padded(face_frames):
    cropper = FaceCropper(size=80, margin=1.0)  # side = 3 x face box > 160 pixels
    crop = cropper.crop(face_frames[0])
    x0, y0, side = cropper.last_crop_box
    assert side > 160 and x0 < 0 and y0 < 0
    assert np.all(crop[0, 0] == 0) and np.all(crop[-1, -1] == 0)  # black corners
    assert crop[40, 40].mean() > 50  # the face in the middle


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="mode.*'side'"):
        FaceCropper(mode="side")
    with pytest.raises(ValueError, match="smoothing.*1.5"):
        FaceCropper(smoothing=1.5)
    with pytest.raises(ValueError, match="detect_every.*0"):
        FaceCropper(detect_every=0)
    with pytest.raises(ValueError, match="uint8 RGB.*float"):
        FaceCropper().crop(np.zeros((10, 10, 3), np.float32))


def test_missing_cascade_names_the_fix(monkeypatch, tmp_path):
    monkeypatch.setattr(faces, "_cascade", None)
    monkeypatch.setattr(cv2.data, "haarcascades", str(tmp_path) + "/")
    with pytest.raises(faces.CascadeNotFoundError, match="opencv-python-headless<5"):
        FaceCropper()
    FaceCropper(mode="centre")  # needs no cascade


def test_png_round_trip_is_exact():
    rgb = np.random.default_rng(1).integers(0, 256, (17, 23, 3), dtype=np.uint8)
    data = faces.encode_image(rgb, format="png")
    assert data[:4] == b"\x89PNG"
    np.testing.assert_array_equal(faces.decode_image(data), rgb)


def test_jpeg_round_trip_keeps_rgb_order():
    rgb = np.zeros((32, 32, 3), np.uint8)
    rgb[..., 0] = 220  # red
    rgb[:, 16:, 2] = 180  # right half magenta
    data = faces.encode_image(rgb, quality=95)
    assert data[:2] == b"\xff\xd8"
    decoded = faces.decode_image(data)
    assert decoded.shape == rgb.shape and decoded.dtype == np.uint8
    assert np.abs(decoded.astype(int) - rgb).mean() < 3
    assert decoded[5, 5, 0] > 200 and decoded[5, 5, 2] < 20


def test_image_coding_errors():
    with pytest.raises(ValueError, match="format"):
        faces.encode_image(np.zeros((4, 4, 3), np.uint8), format="gif")
    with pytest.raises(ValueError, match="cannot decode 5 bytes"):
        faces.decode_image(b"hello")


def _pasted(face, canvas_size, face_pixels, x=None, y=None):
    """`face` (a square frame around a face) shrunk so its face is about `face_pixels`
    high (the painted head is 0.66 of the frame's side) and pasted on a grey canvas."""
    width, height = canvas_size
    side = round(face_pixels / 0.66)
    small = cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA)
    canvas = np.full((height, width, 3), 90, np.uint8)
    x = (width - side) // 2 if x is None else x
    y = (height - side) // 2 if y is None else y
    canvas[y : y + side, x : x + side] = small
    return canvas, (x + side / 2, y + side / 2)


@pytest.mark.parametrize("canvas_size", [(320, 240), (1280, 720), (1920, 1080)])
def test_small_faces_are_found_in_frames_of_any_size(canvas_size):
    face = synthetic.synthetic_frames(np.zeros(1), np.zeros(1), size=192, seed=3)[0]
    frame, (centre_x, centre_y) = _pasted(face, canvas_size, face_pixels=40)
    boxes = faces.detect_faces(frame)
    assert len(boxes) >= 1
    x, y, width, height = boxes[0]
    assert abs(x + width / 2 - centre_x) < 10 and abs(y + height / 2 - centre_y) < 12
    assert 25 < width < 70
    if canvas_size[0] > 320:  # the first pass alone, on a copy 320 pixels wide, misses it
        assert len(faces.detect_faces(frame, small_faces=False)) == 0
    with pytest.raises(ValueError, match="min_face_pixels must be an int >= 8, got 4"):
        FaceCropper(min_face_pixels=4)


def test_found_flag_marks_frames_without_a_face(face_frames):
    blank = np.full_like(face_frames[0], 128)
    cropper = FaceCropper(size=48, hold_runs=0)
    flags = []
    for frame in [blank, face_frames[0], face_frames[1], blank, blank, face_frames[2]]:
        cropper.crop(frame)
        flags.append(cropper.found)
    assert flags == [False, True, True, False, False, True]
    assert (cropper.face_frames, cropper.frames) == (3, 6) and cropper.found_fraction == 0.5
    # Between detector runs the flag is the last run's.
    every = FaceCropper(size=48, detect_every=2, hold_runs=0)
    seen = []
    for frame in [face_frames[0], blank, blank, face_frames[1]]:
        every.crop(frame)
        seen.append(every.found)
    assert seen == [True, True, False, False]
    centre = FaceCropper(size=48, mode="centre")
    centre.crop(blank)
    assert centre.found and centre.found_fraction == 1.0 and centre.detections_run == 0
    cropper.reset()
    assert not cropper.found and cropper.face_frames == 0 and cropper.found_fraction == 0.0
    # By default a face missed for up to two runs after a detection is held.
    held = FaceCropper(size=48)
    seen = []
    for frame in [blank, face_frames[0], blank, blank, blank, face_frames[1], blank]:
        held.crop(frame)
        seen.append(held.found)
    assert seen == [False, True, True, True, False, True, True]
    with pytest.raises(ValueError, match="hold_runs must be an int >= 0, got -1"):
        FaceCropper(hold_runs=-1)


def test_small_face_pass_runs_every_few_frames_while_no_face_is_tracked():
    face = synthetic.synthetic_frames(np.zeros(1), np.zeros(1), size=192, seed=3)[0]
    frame, _ = _pasted(face, (1280, 720), face_pixels=40)
    empty = np.full_like(frame, 90)
    cropper = FaceCropper(size=48, small_face_every=3, hold_runs=0)
    found = []
    for image in [empty, frame, frame, frame, frame]:
        cropper.crop(image)
        found.append(cropper.found)
    # The first lost frame runs the small-face pass; the next two do not, the fourth does.
    assert found == [False, False, False, True, True]


def test_blank_missing_gives_black_crops_without_a_face(face_frames):
    blank = np.full_like(face_frames[0], 128)
    cropper = FaceCropper(size=48, blank_missing=True, hold_runs=0)
    assert not cropper.crop(blank).any() and not cropper.found  # before any face
    assert cropper.crop(face_frames[0]).any() and cropper.found
    assert not cropper.crop(blank).any()  # lost: black, not the last box's square
    assert FaceCropper(size=48, mode="centre", blank_missing=True).crop(blank).all()
