"""RTP packets back into the coded frames the publisher's encoder produced (no decoding).

The reading side of a tap, shared by the sidecars: the recorder writes these frames to files as
they are, the livestream feeds them to its decoders.

VP8: RFC 7741 (payload descriptor stripped, partitions joined). H.264: RFC 6184 packetization
mode 1 (single NAL units, STAP-A, FU-A) written out as Annex B with the parameter sets in front of
every keyframe. Opus: RFC 7587, one frame per packet.

Packets arrive in sequence order (see `reorder.py`); a missing packet spoils the frame it belongs
to, which is then dropped whole — a decoder copes with a missing frame far better than with a
truncated one.
"""

from __future__ import annotations

from dataclasses import dataclass

from sfu.rtp import Incoming, vp8_descriptor_size

START_CODE = b"\x00\x00\x00\x01"
NAL_IDR, NAL_SPS, NAL_PPS, NAL_STAP_A, NAL_FU_A = 5, 7, 8, 24, 28


@dataclass(slots=True)
class Frame:
    data: bytes
    timestamp: int  # RTP timestamp as sent (32 bits)
    arrival: float  # when its first packet reached the SFU (time.monotonic())
    keyframe: bool
    size: tuple[int, int] | None = None  # (width, height) on video keyframes


class Depacketizer:
    """Joins the packets of one frame; subclasses know their codec's payload format."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._timestamp: int | None = None
        self._arrival = 0.0
        self._broken = False

    def lost(self) -> None:
        """Packets went missing just before the next one: they belong to the frame being
        assembled, or, if the last one was complete, to the next frame. Either is unusable."""
        self._broken = True

    def push(self, packet: Incoming, arrival: float) -> Frame | None:
        payload = packet.data[packet.payload_offset : len(packet.data) - packet.padding]
        if self._timestamp is not None and packet.timestamp != self._timestamp:
            # A new frame began before the previous one's marker: that one lost its tail.
            self._reset()
        if self._timestamp is None:
            self._timestamp, self._arrival = packet.timestamp, arrival
        if not self._broken:
            try:
                self._broken = not self._add(payload, starts=not self._parts)
            except (IndexError, ValueError):
                self._broken = True  # malformed payload: lose this frame, not the recording
        if not packet.marker:
            return None
        frame = None if self._broken else self._finish()
        self._reset()
        return frame

    def _reset(self) -> None:
        self._parts = []
        self._timestamp = None
        self._broken = False

    def _frame(self, data: bytes, keyframe: bool, size: tuple[int, int] | None = None) -> Frame:
        assert self._timestamp is not None
        return Frame(data, self._timestamp, self._arrival, keyframe, size)

    def _add(self, payload: bytes, starts: bool) -> bool:
        """Take one packet's payload; False if the frame cannot be used."""
        raise NotImplementedError

    def _finish(self) -> Frame | None:
        raise NotImplementedError


class OpusDepacketizer(Depacketizer):
    def push(self, packet: Incoming, arrival: float) -> Frame | None:
        # Every Opus packet is a whole frame; the marker bit only flags talkspurts.
        self._reset()
        payload = packet.data[packet.payload_offset : len(packet.data) - packet.padding]
        if not payload:
            return None
        return Frame(payload, packet.timestamp, arrival, True)


class Vp8Depacketizer(Depacketizer):
    def _add(self, payload: bytes, starts: bool) -> bool:
        first = payload[0]
        pos = vp8_descriptor_size(payload)
        begins = bool(first & 0x10) and first & 0x07 == 0
        if starts != begins:
            return False  # the frame's first packet is missing
        self._parts.append(payload[pos:])
        return True

    def _finish(self) -> Frame | None:
        data = b"".join(self._parts)
        if len(data) < 3:
            return None
        keyframe = not data[0] & 0x01
        size = None
        if keyframe:
            # RFC 6386 §9.1: 3-byte tag, start code 9d 01 2a, 14-bit width and height.
            if len(data) < 10 or data[3:6] != b"\x9d\x01\x2a":
                return None
            size = (
                int.from_bytes(data[6:8], "little") & 0x3FFF,
                int.from_bytes(data[8:10], "little") & 0x3FFF,
            )
        return self._frame(data, keyframe, size)


class H264Depacketizer(Depacketizer):
    def __init__(self) -> None:
        super().__init__()
        self.sps: bytes | None = None
        self.pps: bytes | None = None
        self._fu: bytearray | None = None

    def _reset(self) -> None:
        super()._reset()
        self._fu = None

    def _add(self, payload: bytes, starts: bool) -> bool:
        nal_type = payload[0] & 0x1F
        if nal_type == NAL_STAP_A:
            pos = 1
            while pos + 2 <= len(payload):
                size = int.from_bytes(payload[pos : pos + 2], "big")
                nal = payload[pos + 2 : pos + 2 + size]
                if len(nal) != size or not size:
                    return False
                self._parts.append(nal)
                pos += 2 + size
            return True
        if nal_type == NAL_FU_A:
            header = payload[1]
            if header & 0x80:  # start of the fragmented NAL
                self._fu = bytearray(((payload[0] & 0xE0) | (header & 0x1F),))
            elif self._fu is None:
                return False  # its start was lost
            self._fu += payload[2:]
            if header & 0x40:  # end
                self._parts.append(bytes(self._fu))
                self._fu = None
            return True
        if 1 <= nal_type <= 23:
            self._parts.append(payload)
            return True
        return False  # STAP-B, MTAP, FU-B: not in packetization mode 1

    def _finish(self) -> Frame | None:
        if self._fu is not None or not self._parts:
            return None
        keyframe = False
        size = None
        for nal in self._parts:
            kind = nal[0] & 0x1F
            if kind == NAL_SPS:
                self.sps = nal
                size = sps_size(nal)
            elif kind == NAL_PPS:
                self.pps = nal
            elif kind == NAL_IDR:
                keyframe = True
        nals = self._parts
        if keyframe and self.sps and self.pps:
            kinds = {nal[0] & 0x1F for nal in nals}
            # Every keyframe carries its parameter sets, so a file (or a segment) can start there.
            if NAL_SPS not in kinds:
                nals = [self.sps, self.pps, *nals]
            if size is None:
                size = sps_size(self.sps)
        elif keyframe:
            keyframe = False  # an IDR without parameter sets cannot start a decoder
        return self._frame(b"".join(START_CODE + nal for nal in nals), keyframe, size)


def depacketizer(codec: str) -> Depacketizer:
    kind = codec.lower()
    if kind == "video/vp8":
        return Vp8Depacketizer()
    if kind == "video/h264":
        return H264Depacketizer()
    if kind == "audio/opus":
        return OpusDepacketizer()
    raise ValueError(f"cannot depacketize {codec}: only VP8, H.264 and Opus")


class _Bits:
    """An H.264 RBSP read bit by bit (emulation prevention bytes removed)."""

    def __init__(self, data: bytes) -> None:
        self.data = data.replace(b"\x00\x00\x03", b"\x00\x00")
        self.pos = 0

    def bit(self) -> int:
        byte = self.data[self.pos >> 3]
        value = (byte >> (7 - (self.pos & 7))) & 1
        self.pos += 1
        return value

    def bits(self, n: int) -> int:
        value = 0
        for _ in range(n):
            value = (value << 1) | self.bit()
        return value

    def ue(self) -> int:
        zeros = 0
        while not self.bit():
            zeros += 1
        return (1 << zeros) - 1 + self.bits(zeros)

    def se(self) -> int:
        value = self.ue()
        return (value + 1) // 2 if value & 1 else -(value // 2)


def sps_size(sps: bytes) -> tuple[int, int] | None:
    """(width, height) from an H.264 sequence parameter set (ITU-T H.264 §7.3.2.1.1)."""
    try:
        b = _Bits(sps[1:])
        profile = b.bits(8)
        b.bits(16)  # constraint flags, level
        b.ue()  # seq_parameter_set_id
        chroma = 1
        if profile in (100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135):
            chroma = b.ue()
            if chroma == 3:
                b.bit()
            b.ue()  # bit depth luma
            b.ue()  # bit depth chroma
            b.bit()
            if b.bit():  # scaling matrices present
                for i in range(8 if chroma != 3 else 12):
                    if b.bit():
                        last, next_ = 8, 8
                        for _ in range(16 if i < 6 else 64):
                            if next_:
                                next_ = (last + b.se() + 256) % 256
                            last = next_ or last
        b.ue()  # log2_max_frame_num
        poc_type = b.ue()
        if poc_type == 0:
            b.ue()
        elif poc_type == 1:
            b.bit()
            b.se()
            b.se()
            for _ in range(b.ue()):
                b.se()
        b.ue()  # max_num_ref_frames
        b.bit()
        width = (b.ue() + 1) * 16
        map_units = b.ue() + 1
        frame_mbs_only = b.bit()
        height = map_units * 16 * (2 - frame_mbs_only)
        if not frame_mbs_only:
            b.bit()
        b.bit()  # direct_8x8_inference
        if b.bit():  # cropping
            left, right, top, bottom = b.ue(), b.ue(), b.ue(), b.ue()
            crop_x = 2 if chroma in (1, 2) else 1
            crop_y = (2 if chroma == 1 else 1) * (2 - frame_mbs_only)
            width -= (left + right) * crop_x
            height -= (top + bottom) * crop_y
        return (width, height) if width > 0 and height > 0 else None
    except IndexError:
        return None
