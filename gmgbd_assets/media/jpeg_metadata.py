"""Location metadata out of a JPEG, losslessly: the segments that can carry it are dropped, the image data is not
touched.

A photo's EXIF GPS block, its XMP (``exif:GPSLatitude``, ``photoshop:City``) and its IPTC record (city, sublocation)
give the place it was taken. For an observation whose coordinates iNaturalist obscures (``geoprivacy.py``) that is
the very location the observer chose to hide, so no stored photo keeps any of them.

What is kept is an allow-list, not a block-list, so an unknown vendor segment cannot carry a location through:

- every structural segment (frame and scan headers, Huffman and quantisation tables, restart interval) and the
  entropy-coded data, byte for byte: the pixels are exactly the original's;
- ``APP0`` ``JFIF`` (density), ``APP2`` ``ICC_PROFILE`` (colours) and ``APP14`` ``Adobe`` (the colour transform a
  decoder needs);
- the EXIF Orientation, when it turns or flips the picture (2..8), rewritten as a minimal EXIF block that holds it
  alone, so viewers and the captioner still see the photo upright.

Everything else goes: every other ``APP1`` (EXIF, XMP, extended XMP), ``APP13`` (IPTC), ``APP2`` other than ICC
(MPF, FlashPix), ``JFXX`` (a thumbnail that may be a JPEG with its own EXIF), all other application segments,
comments, and whatever follows the end-of-image marker (a second picture, a phone's motion-photo trailer). A file
that already holds nothing but kept segments comes back as the very same bytes.
"""

from __future__ import annotations

import struct

SOI, EOI, SOS = 0xD8, 0xD9, 0xDA
APP0, APP1, APP2, APP14, APP15, COM = 0xE0, 0xE1, 0xE2, 0xEE, 0xEF, 0xFE
# Markers without a length field: restart markers, TEM, SOI and EOI.
_STANDALONE = frozenset({0x01, SOI, EOI, *range(0xD0, 0xD8)})
# An application segment is kept only when its payload starts with one of these identifiers.
_KEPT_APPLICATION = {APP0: b"JFIF\x00", APP2: b"ICC_PROFILE\x00", APP14: b"Adobe"}
_EXIF = b"Exif\x00\x00"
ORIENTATION_TAG = 0x0112
_TIFF_SHORT = 3


class JpegStructureError(ValueError):
    """The bytes are not a JPEG this module can walk segment by segment (no SOI, a segment running past the end,
    no end-of-image marker)."""


def strip_location_metadata(data: bytes) -> bytes:
    """``data`` without any segment that can carry where the photo was taken (see the module docstring), the
    Orientation kept. Raises ``JpegStructureError`` for bytes that are not a complete JPEG."""
    if data[:2] != b"\xff\xd8":
        raise JpegStructureError("does not start with the JPEG SOI marker")
    kept: list[bytes] = [data[:2]]
    orientation: int | None = None
    pos = 2
    while True:
        marker, start = _next_marker(data, pos)
        if marker == EOI:
            kept.append(b"\xff\xd9")
            break
        if marker in _STANDALONE:
            kept.append(data[start : start + 2])
            pos = start + 2
            continue
        if start + 4 > len(data):
            raise JpegStructureError(f"segment 0x{marker:02X} at byte {start} is cut off")
        (length,) = struct.unpack(">H", data[start + 2 : start + 4])
        end = start + 2 + length
        if length < 2 or end > len(data):
            raise JpegStructureError(f"segment 0x{marker:02X} at byte {start} runs past the end of the file")
        if marker == SOS:  # the scan's entropy-coded data travels with its header
            end = _end_of_scan(data, end)
        payload = data[start + 4 : end]
        if _kept(marker, payload):
            kept.append(data[start:end])
        elif marker == APP1 and orientation is None and payload.startswith(_EXIF):
            orientation = exif_orientation(payload[len(_EXIF) :])
        pos = end
    if orientation is not None:
        # After JFIF, which must follow SOI directly; EXIF readers look for APP1 among the first segments.
        at = 2 if len(kept) > 1 and kept[1][:2] == b"\xff\xe0" else 1
        kept.insert(at, orientation_segment(orientation))
    stripped = b"".join(kept)
    # The same object when nothing changed, so that a caller can tell without comparing (a stripped file, its
    # Orientation segment included, strips to itself).
    return data if stripped == data else stripped


def _kept(marker: int, payload: bytes) -> bool:
    """Whether a segment stays: every structural one, an application segment only with a kept identifier."""
    if not (APP0 <= marker <= APP15 or marker == COM):
        return True
    identifier = _KEPT_APPLICATION.get(marker)
    return identifier is not None and payload.startswith(identifier)


def _next_marker(data: bytes, pos: int) -> tuple[int, int]:
    """(marker, offset of its 0xFF) of the first marker at or after ``pos``; stray bytes and 0xFF fill are
    skipped, as libjpeg does."""
    while True:
        at = data.find(b"\xff", pos)
        if at < 0 or at + 1 >= len(data):
            raise JpegStructureError("no end-of-image marker")
        marker = data[at + 1]
        if marker not in (0x00, 0xFF):
            return marker, at
        pos = at + 1


def _end_of_scan(data: bytes, pos: int) -> int:
    """Offset of the first marker after a scan's entropy-coded data (which escapes 0xFF as 0xFF00 and may hold
    restart markers)."""
    while True:
        at = data.find(b"\xff", pos)
        if at < 0 or at + 1 >= len(data):
            raise JpegStructureError("a scan without an end-of-image marker (truncated?)")
        follower = data[at + 1]
        if follower == 0x00 or 0xD0 <= follower <= 0xD7 or follower == 0xFF:
            pos = at + 1
            continue
        return at


def exif_orientation(tiff: bytes) -> int | None:
    """The Orientation (IFD0 tag 0x0112) of an EXIF TIFF block when it turns or flips the picture (2..8); None
    for 1, an absent or malformed tag, or an unreadable block."""
    order = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if order is None or len(tiff) < 8:
        return None
    (ifd,) = struct.unpack(f"{order}I", tiff[4:8])
    if ifd + 2 > len(tiff):
        return None
    (count,) = struct.unpack(f"{order}H", tiff[ifd : ifd + 2])
    for i in range(count):
        entry = tiff[ifd + 2 + 12 * i : ifd + 14 + 12 * i]
        if len(entry) < 12:
            return None
        tag, kind, n = struct.unpack(f"{order}HHI", entry[:8])
        if tag == ORIENTATION_TAG:
            if kind != _TIFF_SHORT or n != 1:
                return None
            (value,) = struct.unpack(f"{order}H", entry[8:10])
            return value if 2 <= value <= 8 else None
    return None


def orientation_segment(orientation: int) -> bytes:
    """An APP1 EXIF segment holding one tag, the Orientation, and nothing else."""
    ifd = struct.pack(">HHHIHHI", 1, ORIENTATION_TAG, _TIFF_SHORT, 1, orientation, 0, 0)
    payload = _EXIF + b"MM\x00\x2a" + struct.pack(">I", 8) + ifd
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
