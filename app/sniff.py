"""Header sniffing: does the start of an upload look like audio? (cheap, before decoding).

Independent of the decoder: a table of container signatures at offset 0, plus MPEG audio /
ADTS frame syncs (MP3 and AAC have no container header). It rejects what is plainly not audio
(text, JSON, images, archives, random bytes) after the first bytes arrive, before the rest of
the body is read or a decode slot is taken; the decoder still has the last word on everything
that passes.
"""

from __future__ import annotations

SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    # (offset, bytes, format)
    (0, b"ID3", "MP3 (ID3 tag)"),
    (0, b"RIFF", "RIFF (WAV)"),
    (0, b"RIFX", "RIFF (WAV)"),
    (0, b"RF64", "RF64 (WAV)"),
    (0, b"BW64", "BW64 (WAV)"),
    (0, b"riff", "Sony Wave64"),
    (0, b"fLaC", "FLAC"),
    (0, b"OggS", "Ogg"),
    (0, b"FORM", "AIFF / IFF"),
    (0, b".snd", "Sun AU"),
    (0, b"caff", "CAF"),
    (0, b"#!AMR", "AMR"),
    (0, b"MAC ", "Monkey's Audio"),
    (0, b"wvpk", "WavPack"),
    (0, b"MPCK", "Musepack"),
    (0, b"MP+", "Musepack"),
    (0, b"TTA1", "TTA"),
    (0, b"NIST_1A", "NIST SPHERE"),
    (0, b"Creative Voice File", "VOC"),
    (0, b"\x1a\x45\xdf\xa3", "Matroska / WebM"),
    (0, b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", "ASF (WMA)"),
    (4, b"ftyp", "MP4 / M4A"),
)

# MPEG audio bitrates (kbit/s) by [version is MPEG-1][layer index 1..3][bitrate index]
_BITRATES = {
    (True, 3): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),  # Layer I
    (True, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),  # Layer II
    (True, 1): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),  # Layer III
    (False, 3): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 1): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _frame_length(head: bytes, i: int) -> int | None:
    """Length in bytes of the MPEG audio or ADTS frame whose header starts at ``i``, or None."""
    if i + 7 > len(head) or head[i] != 0xFF or head[i + 1] & 0xE0 != 0xE0:
        return None
    b1, b2 = head[i + 1], head[i + 2]
    version, layer = (b1 >> 3) & 3, (b1 >> 1) & 3
    if layer == 0:  # ADTS (AAC): 12-bit sync, 13-bit frame length
        if b1 & 0xF0 != 0xF0 or (b2 >> 2) & 0xF > 12:
            return None
        length = ((head[i + 3] & 3) << 11) | (head[i + 4] << 3) | (head[i + 5] >> 5)
        return length if length >= 7 else None
    bitrate_index, rate_index, padding = b2 >> 4, (b2 >> 2) & 3, (b2 >> 1) & 1
    if version == 1 or bitrate_index in (0, 15) or rate_index == 3:
        return None  # reserved version, free-format or bad bitrate, reserved rate
    kbps = _BITRATES[(version == 3, layer)][bitrate_index]
    rate = _RATES[version][rate_index]
    if layer == 3:  # Layer I: 4-byte slots
        return (12 * kbps * 1000 // rate + padding) * 4
    per_frame = 144 if (layer == 2 or version == 3) else 72  # samples / 8 per frame
    return per_frame * kbps * 1000 // rate + padding


def _mpeg_frames(head: bytes) -> bool:
    """Two consecutive valid MPEG audio / ADTS frame headers somewhere in ``head``."""
    start = head.find(b"\xff")
    while 0 <= start < len(head) - 7:
        length = _frame_length(head, start)
        if length is not None:
            following = start + length
            if following + 7 > len(head):
                return start == 0  # one whole frame at the very start of a tiny file
            if _frame_length(head, following) is not None:
                return True
        start = head.find(b"\xff", start + 1)
    return False


def sniff(head: bytes) -> str | None:
    """The audio format the first bytes of an upload suggest, or None when nothing does."""
    for offset, magic, name in SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return name
    if _mpeg_frames(head):
        return "MPEG audio / ADTS"
    return None
