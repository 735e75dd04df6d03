"""Snapshots are health data: what is kept is the picture, not what the camera or phone wrote
into the file (where, when, which device). An upload is decoded, turned upright as its EXIF
orientation says, and encoded again without any metadata."""

import io

import pytest
from django.urls import reverse
from PIL import ExifTags, Image, PngImagePlugin

from assessments.models import Snapshot
from tests.assessments.conftest import images_consent
from tests.assessments.test_assessment_pages import _upload

pytestmark = pytest.mark.django_db

RED, BLUE = (220, 30, 30), (30, 30, 220)


def photo_with_metadata(*, orientation: int = 1) -> bytes:
    """A 64 × 48 JPEG, red on the left half and blue on the right, carrying a GPS position, the
    camera's make and model, the time it was taken, a comment and an EXIF orientation."""
    image = Image.new("RGB", (64, 48), BLUE)
    image.paste(RED, (0, 0, 32, 48))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneMaker"
    exif[ExifTags.Base.Model] = "Phone 15"
    exif[ExifTags.Base.DateTime] = "2026:11:30 08:15:00"
    exif[ExifTags.Base.Orientation] = orientation
    exif.get_ifd(ExifTags.IFD.GPSInfo).update(
        {
            ExifTags.GPS.GPSLatitudeRef: "N",
            ExifTags.GPS.GPSLatitude: (51.0, 30.0, 26.0),
            ExifTags.GPS.GPSLongitudeRef: "W",
            ExifTags.GPS.GPSLongitude: (0.0, 7.0, 39.0),
        }
    )
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=95, exif=exif, comment=b"Ana at home")
    return buffer.getvalue()


def upload(as_clinician, assessment, data: bytes, name: str = "snapshot.jpg") -> Snapshot:
    response = as_clinician.post(
        reverse("assessments:snapshot_upload", args=[assessment.uuid]),
        {"protocol": "lunge", "image": _upload(data, name)},
    )
    assert response.status_code == 201, response.content
    return Snapshot.objects.get()


def stored_bytes(snapshot: Snapshot) -> bytes:
    with snapshot.image.open("rb") as stored:
        return stored.read()


def test_the_photo_as_uploaded_carries_the_metadata() -> None:
    # The test's own premise: without re-encoding, all of it would be kept.
    with Image.open(io.BytesIO(photo_with_metadata())) as image:
        exif = image.getexif()
        assert exif[ExifTags.Base.Make] == "PhoneMaker"
        assert exif.get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitudeRef] == "N"
        assert image.info["comment"] == b"Ana at home"


def test_a_snapshot_keeps_no_gps_position_camera_or_time(
    as_clinician, assessment, client_record
) -> None:
    images_consent(client_record)
    data = stored_bytes(upload(as_clinician, assessment, photo_with_metadata()))
    assert data[:2] == b"\xff\xd8"
    for text in (b"Exif", b"PhoneMaker", b"Phone 15", b"2026:11:30", b"Ana at home"):
        assert text not in data
    with Image.open(io.BytesIO(data)) as image:
        assert not image.getexif()
        assert not image.getexif().get_ifd(ExifTags.IFD.GPSInfo)
        assert "comment" not in image.info
        assert image.size == (64, 48)


def test_a_snapshot_is_turned_upright_before_its_orientation_tag_goes(
    as_clinician, assessment, client_record
) -> None:
    # Orientation 6: the picture is shown turned 90° clockwise, so its left edge is at the top.
    # Without the tag the stored image must already be that way up.
    images_consent(client_record)
    snapshot = upload(as_clinician, assessment, photo_with_metadata(orientation=6))
    assert (snapshot.width, snapshot.height) == (48, 64)
    with Image.open(io.BytesIO(stored_bytes(snapshot))) as image:
        assert image.size == (48, 64)
        assert ExifTags.Base.Orientation not in image.getexif()
        top, bottom = image.getpixel((24, 8)), image.getpixel((24, 56))
    assert all(abs(a - b) < 40 for a, b in zip(top, RED, strict=True)), top
    assert all(abs(a - b) < 40 for a, b in zip(bottom, BLUE, strict=True)), bottom


def test_a_png_snapshot_keeps_none_of_its_text_chunks(
    as_clinician, assessment, client_record
) -> None:
    images_consent(client_record)
    info = PngImagePlugin.PngInfo()
    info.add_text("Location", "51.5074 N, 0.1278 W")
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), RED).save(buffer, format="PNG", pnginfo=info)
    data = stored_bytes(upload(as_clinician, assessment, buffer.getvalue(), "snapshot.png"))
    assert data[:2] == b"\xff\xd8"
    assert b"51.5074" not in data
