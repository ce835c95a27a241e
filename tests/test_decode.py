"""Live JPEGs are decoded only as large as the model needs: same detections, original-pixel boxes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from datasets.synth.frames import render_training_frame
from detector.decode import DecodedImage, decode_for_detection, reduction_for
from detector.model import Detector
from detector.track import box_iou
from detector.types import Frame


@pytest.mark.parametrize(
    ("size", "input_shape", "factor"),
    [
        ((1280, 720), (416, 416), 2),  # letterbox gain 0.325: half size still has more pixels
        ((1280, 720), (640, 640), 2),  # gain 0.5: half size is exactly what the model sees
        ((1280, 720), (288, 512), 2),
        ((1920, 1080), (416, 416), 4),
        ((1280, 720), (1280, 1280), 1),  # a large model needs every pixel
        ((1279, 719), (416, 416), 1),  # odd sides: boxes could not map back exactly
        ((1280, 720), None, 1),  # no model known
    ],
)
def test_reduction_factor(size, input_shape, factor) -> None:
    assert reduction_for(*size, input_shape) == factor


@pytest.fixture(scope="module")
def street_jpeg() -> tuple[np.ndarray, bytes]:
    image = render_training_frame(3, 7)[0]
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return image, data.tobytes()


def test_jpeg_decoded_at_half_size_keeps_the_original_for_evidence(street_jpeg) -> None:
    image, data = street_jpeg
    decoded = decode_for_detection(data, 1280, 720, True, (416, 416))
    assert decoded is not None and decoded.scale == 2 and decoded.pixels.shape == (360, 640, 3)
    assert (decoded.width, decoded.height) == (1280, 720)
    # the DCT-domain reduction is a proper downsampling of the picture
    area = cv2.resize(
        cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR),
        (640, 360),
        interpolation=cv2.INTER_AREA,
    )
    assert np.abs(decoded.pixels.astype(int) - area).mean() < 3.0
    frame = Frame(decoded.pixels, 0, 0.0, "live:V1", scale=decoded.scale, encoded=decoded.encoded)
    assert (frame.width, frame.height) == (1280, 720)
    assert frame.full_image().shape == image.shape


def test_png_and_unreduced_sizes_decode_in_full(street_jpeg) -> None:
    image, data = street_jpeg
    ok, png = cv2.imencode(".png", image)
    decoded = decode_for_detection(png.tobytes(), 1280, 720, False, (416, 416))
    assert decoded is not None and decoded.scale == 1 and decoded.encoded is None
    assert np.array_equal(decoded.pixels, image)
    assert decode_for_detection(data, 1280, 720, True, None).scale == 1
    assert decode_for_detection(data, 1920, 1080, True, (416, 416)) is None  # header and data disagree
    assert DecodedImage.of(image).pixels is image


def test_detections_on_the_reduced_decode_match_the_full_decode(bundled_model_path, street_jpeg) -> None:
    _, data = street_jpeg
    detector = Detector(bundled_model_path, threads=1)
    full = detector.detect(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR))
    decoded = decode_for_detection(data, 1280, 720, True, detector.imgsz)
    assert decoded is not None and decoded.scale == 2
    reduced = [d.scaled(decoded.scale) for d in detector.detect(decoded.pixels)]
    strong = [d for d in full if d.score >= 0.5]
    assert strong, "the rendered street frame should hold confident detections"
    for det in strong:
        same = [r for r in reduced if r.class_name == det.class_name]
        assert same and max(box_iou(det.box, r.box) for r in same) >= 0.85, (det, same)


def test_the_reduced_decode_gives_opencvs_pixels(street_jpeg) -> None:
    """The fast path (simplejpeg) and OpenCV's reduced decode are the same libjpeg-turbo work: the model
    sees the same pixels whichever decoded them, for colour, grey and CMYK (which OpenCV converts)."""
    import io

    from PIL import Image

    image, data = street_jpeg
    grey = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))[1].tobytes()
    cmyk = io.BytesIO()
    Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)).convert("CMYK").save(cmyk, "JPEG")
    for jpeg in (data, grey, cmyk.getvalue()):
        decoded = decode_for_detection(jpeg, 1280, 720, True, (288, 512))
        assert decoded is not None and decoded.scale == 2
        opencv = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_REDUCED_COLOR_2)
        assert np.array_equal(decoded.pixels, opencv)


def test_a_damaged_jpeg_decodes_as_far_as_opencv_can(street_jpeg) -> None:
    """Bytes garbled mid-stream: libjpeg warns and recovers, to the same pixels whichever library called
    it, so a frame with a few bad bytes is still detected on."""
    _, data = street_jpeg
    middle = len(data) // 2
    damaged = data[:middle] + bytes(64) + data[middle + 64 :]
    decoded = decode_for_detection(damaged, 1280, 720, True, (288, 512))
    opencv = cv2.imdecode(np.frombuffer(damaged, np.uint8), cv2.IMREAD_REDUCED_COLOR_2)
    assert opencv is not None
    assert decoded is not None and np.array_equal(decoded.pixels, opencv)


def test_exif_rotated_jpeg_is_decoded_upright(street_jpeg) -> None:
    """A phone photo stored landscape with orientation 6 (turn 90°): decoded upright, reduced as usual."""
    import io

    from PIL import Image

    image, _ = street_jpeg
    pil = Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    pil.save(buf, "JPEG", quality=90, exif=exif.tobytes())
    decoded = decode_for_detection(buf.getvalue(), 1280, 720, True, (416, 416))  # the header's size
    assert decoded is not None and decoded.scale == 2
    assert (decoded.width, decoded.height) == (720, 1280)
    exif[0x0112] = 1  # upright as stored: decoded as it is
    buf = io.BytesIO()
    pil.save(buf, "JPEG", quality=90, exif=exif.tobytes())
    decoded = decode_for_detection(buf.getvalue(), 1280, 720, True, (416, 416))
    assert decoded is not None and (decoded.width, decoded.height) == (1280, 720)


def test_metadata_padded_jpeg_is_decoded_in_full(street_jpeg) -> None:
    """More bytes than pixels (a comment segment of 60 kB on a small frame): keeping those bytes for the
    evidence would cost more than the full decode, so the frame is decoded in full."""
    small = cv2.resize(street_jpeg[0], (256, 144))
    ok, jpeg = cv2.imencode(".jpg", small)
    payload = b"x" * 60000
    padded = jpeg.tobytes()[:2] + b"\xff\xfe" + (len(payload) + 2).to_bytes(2, "big") + payload
    padded += jpeg.tobytes()[2:]
    assert reduction_for(256, 144, (64, 64)) == 4
    decoded = decode_for_detection(padded, 256, 144, True, (64, 64))
    assert decoded is not None and decoded.scale == 1 and decoded.encoded is None
    assert decoded.pixels.shape == (144, 256, 3)
