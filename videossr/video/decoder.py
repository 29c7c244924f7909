"""Frame-exact decoding of chosen frames from a video file. The only module that imports PyAV.

Two passes over a file:

1. :func:`probe_video` demuxes the video stream without decoding it and records the timestamp and
   key-frame flag of every packet. Frame ``k`` is the packet with the ``k``-th smallest
   presentation timestamp, so indices are exact on variable-frame-rate files (where
   ``index / average_fps`` seeking is off by up to tens of frames) and the frame count is the
   number of packets actually in the file, not the header's claim (a file cut midway keeps its
   header).
2. :func:`decode_frames` decodes only what the requested frames need: for each target it seeks to
   the last key frame at or before it when that key frame lies ahead of the decoder, otherwise it
   decodes on; packets that are not targets are decoded with ``skip_frame=NONREF``, so frames
   nothing else references (most B-frames) are never reconstructed. Decoded frames are matched to
   targets by timestamp, never by counting, so a seek that lands early costs time, not
   correctness. If the fast path cannot be trusted (timestamps missing or duplicated, a seek that
   lands past its target) it falls back to one sequential decode that counts frames.

Parallelism comes from one process per video, which beats oversubscribed decoder threads
(measured in ``bench/``), so decoders run single-threaded by default. When there are fewer videos
than cores, ``threads > 1`` turns on frame threading (FFmpeg copies ``skip_frame`` into each
frame thread with its packet, so per-packet skipping stays exact).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import av.logging
import numpy as np

from videossr.errors import VideoError
from videossr.imaging import fit_to_pixel_budget

logger = logging.getLogger(__name__)

_quiet_ffmpeg_done = False
_python_log_warned = False


def _quiet_ffmpeg() -> None:
    """Keep FFmpeg's own stderr log quiet, once per process, without routing it through Python.

    FFmpeg prints complaints about damaged streams straight to stderr; we report damage ourselves
    (a missing target frame becomes a :class:`VideoError`), so its log would only be noise.
    ``av.logging.set_libav_level`` changes FFmpeg's level alone. ``av.logging.set_level`` must
    never be used here: it installs PyAV's Python log callback, which FFmpeg's frame threads then
    call, and each call needs the GIL — held by the decoding thread while it waits for those same
    threads in ``avcodec_free_context``. That is PyAV's logging deadlock (PyAV #751, #909, #367).
    """
    global _quiet_ffmpeg_done
    if not _quiet_ffmpeg_done:
        av.logging.set_libav_level(av.logging.PANIC)
        _quiet_ffmpeg_done = True


def _safe_thread_count(threads: int) -> int:
    """``threads``, or 1 when PyAV's Python log callback is on (frame threads could deadlock).

    Somebody else in the process (an application, another library) may have called
    ``av.logging.set_level``; then FFmpeg logs through Python and frame threads are unsafe.
    """
    global _python_log_warned
    if threads > 1 and av.logging.get_level() is not None:
        if not _python_log_warned:
            logger.warning(
                "PyAV's Python log callback is on (av.logging.set_level was called), which can deadlock "
                "FFmpeg's frame threads; decoding with one thread instead (see av.logging.restore_default_callback)"
            )
            _python_log_warned = True
        return 1
    return threads


@dataclass(frozen=True)
class VideoProbe:
    """What one demux pass learns about a file's video stream.

    Attributes:
        path: the file.
        codec: decoder name, e.g. ``"h264"``.
        coded_width, coded_height: size of decoded pictures before any display rotation.
        time_base: seconds per timestamp tick.
        frame_pts: presentation timestamp of every frame, sorted (frame ``k`` is ``frame_pts[k]``).
        keyframe_pts: sorted presentation timestamps of the key frames.
        timestamps_reliable: every packet had a timestamp and no two shared one; when False,
            decoding counts frames in output order instead of matching timestamps.
    """

    path: str
    codec: str
    coded_width: int
    coded_height: int
    time_base: Fraction
    frame_pts: np.ndarray
    keyframe_pts: np.ndarray
    timestamps_reliable: bool

    @property
    def num_frames(self) -> int:
        return int(len(self.frame_pts))

    @property
    def native_fps(self) -> Fraction:
        """Mean frame rate between the first and the last frame (exact rational for CFR video)."""
        span = int(self.frame_pts[-1] - self.frame_pts[0]) if self.num_frames > 1 else 0
        if span <= 0:
            raise VideoError("cannot measure the frame rate: all frames share one timestamp")
        return Fraction(self.num_frames - 1) / (span * self.time_base)

    def frame_time_s(self, frame_idx: int) -> float:
        """Source presentation time of frame ``frame_idx``, relative to frame 0, in seconds."""
        return float((int(self.frame_pts[frame_idx]) - int(self.frame_pts[0])) * self.time_base)


@dataclass
class DecodeStats:
    """Work counters of one :func:`decode_frames` call (for benchmarks and tests)."""

    packets_sent: int = 0
    frames_decoded: int = 0
    seeks: int = 0
    fell_back_to_sequential: bool = False
    fallback_reason: str = ""


@dataclass(frozen=True)
class DecodedFrame:
    """One requested frame.

    Attributes:
        position: index of this frame in the requested ``frame_indices``.
        frame_idx: source frame number.
        image: ``(height, width, 3)`` uint8 array, upright (display rotation applied), or None
            when decoding was asked to skip pixel conversion.
        quarter_turns: counter-clockwise quarter turns applied to make the picture upright
            (from the stream's display matrix; 0 for most videos).
    """

    position: int
    frame_idx: int
    image: np.ndarray | None
    quarter_turns: int = 0


def _open(path: str | Path) -> av.container.InputContainer:
    path = Path(path)
    if not path.exists():
        raise VideoError(f"file not found: {path}")
    if path.is_dir():
        raise VideoError(f"is a directory, not a video file: {path}")
    if path.stat().st_size == 0:
        raise VideoError("empty file (0 bytes)")
    _quiet_ffmpeg()
    try:
        return av.open(str(path), metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise VideoError(f"unreadable: FFmpeg cannot open it as a media file ({exc.strerror})") from exc


def _video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream:
    streams = [s for s in container.streams.video if s.codec_context is not None]
    # Attached pictures (cover art in audio files) are single still images, not video.
    streams = [s for s in streams if not (s.disposition & av.stream.Disposition.attached_pic)]
    if not streams:
        kinds = sorted({s.type for s in container.streams}) or ["none"]
        raise VideoError(f"no video stream (streams found: {', '.join(kinds)})")
    return streams[0]


def probe_video(path: str | Path) -> VideoProbe:
    """Index the video stream of ``path`` by demuxing it, without decoding any frame.

    Packets flagged corrupt and empty packets are not frames. Raises :class:`VideoError` for a
    missing, empty, unreadable or video-less file, or one with no frames.
    """
    container = _open(path)
    try:
        stream = _video_stream(container)
        timestamps: list[int] = []
        key_timestamps: list[int] = []
        missing_timestamps = 0
        try:
            for packet in container.demux(stream):
                if packet.size == 0 or packet.is_corrupt:
                    continue
                ts = packet.pts if packet.pts is not None else packet.dts
                if ts is None:
                    missing_timestamps += 1
                    ts = len(timestamps)  # placeholder; sequential decoding will be used
                timestamps.append(ts)
                if packet.is_keyframe:
                    key_timestamps.append(ts)
        except av.error.FFmpegError as exc:
            # Damage past some point: the packets read so far are still usable frames.
            logger.debug("demux of %s stopped early: %s", path, exc)
        if not timestamps:
            raise VideoError("no frames: the video stream holds no packets")
        frame_pts = np.sort(np.asarray(timestamps, dtype=np.int64), kind="stable")
        reliable = missing_timestamps == 0 and bool(np.all(np.diff(frame_pts) > 0))
        ctx = stream.codec_context
        if not ctx.width or not ctx.height:
            raise VideoError("the video stream declares no frame size")
        if stream.time_base is None:
            raise VideoError("the video stream declares no time base")
        return VideoProbe(
            path=str(path),
            codec=ctx.name,
            coded_width=int(ctx.width),
            coded_height=int(ctx.height),
            time_base=Fraction(stream.time_base),
            frame_pts=frame_pts,
            keyframe_pts=np.unique(np.asarray(key_timestamps, dtype=np.int64)),
            timestamps_reliable=reliable,
        )
    finally:
        container.close()


class _SeekUntrusted(Exception):
    """The fast path saw something it cannot vouch for; redo the rest sequentially."""


def upright_quarter_turns(frame: av.VideoFrame) -> int:
    """Counter-clockwise quarter turns that show ``frame`` upright, as a player would.

    PyAV reports the display matrix as counter-clockwise degrees and ``np.rot90`` turns the same
    way. Rotations that are not multiples of 90 degrees are rounded; flips are not applied.
    """
    return round((frame.rotation or 0) / 90) % 4


@dataclass
class _Conversion:
    """How a decoded picture becomes the stored array: optional resize and pixel format."""

    max_pixels: int
    pixel_format: str
    _sizes: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)

    def __call__(self, frame: av.VideoFrame) -> np.ndarray:
        coded = (frame.width, frame.height)
        size = self._sizes.get(coded)
        if size is None:
            size = self._sizes[coded] = fit_to_pixel_budget(frame.width, frame.height, self.max_pixels)
        # One swscale call converts and resizes; AREA averages, the right filter to shrink.
        image = frame.to_ndarray(width=size[0], height=size[1], format=self.pixel_format, interpolation="AREA")
        quarter_turns = upright_quarter_turns(frame)
        if quarter_turns:
            image = np.ascontiguousarray(np.rot90(image, quarter_turns))
        return image


def decode_frames(
    probe: VideoProbe,
    frame_indices: Sequence[int],
    *,
    max_pixels: int = 0,
    pixel_format: str = "bgr24",
    convert: bool = True,
    threads: int = 1,
    stats: DecodeStats | None = None,
) -> Iterator[DecodedFrame]:
    """Yield the requested frames of ``probe.path`` in increasing order.

    Args:
        probe: the file's index from :func:`probe_video`.
        frame_indices: strictly increasing source frame numbers in ``[0, probe.num_frames)``.
        max_pixels: shrink each frame to at most this many pixels, keeping its aspect ratio
            (``<= 0``: keep the source size).
        pixel_format: an FFmpeg pixel format with 3 interleaved channels (``bgr24``, ``rgb24``).
        convert: False decodes without converting pixels (``image`` is None), for benchmarks.
        threads: decoder threads; 1 when other processes already use the other cores.
        stats: filled with work counters if given.

    Memory is bounded by the decoder's reference frames plus one converted frame, whatever the
    video's length. Raises :class:`VideoError` when a requested frame cannot be decoded.
    """
    targets = [int(i) for i in frame_indices]
    if any(b <= a for a, b in zip(targets, targets[1:])):
        raise ValueError("frame_indices must be strictly increasing")
    if targets and (targets[0] < 0 or targets[-1] >= probe.num_frames):
        raise ValueError(f"frame_indices must lie in [0, {probe.num_frames}), got {targets[0]}..{targets[-1]}")
    stats = stats if stats is not None else DecodeStats()
    convert_frame = _Conversion(max_pixels, pixel_format) if convert else None
    done = 0
    if probe.timestamps_reliable:
        try:
            for decoded in _decode_seeking(probe, targets, convert_frame, threads, stats):
                done += 1
                yield decoded
            return
        except _SeekUntrusted as exc:
            stats.fell_back_to_sequential = True
            stats.fallback_reason = str(exc)
            logger.debug("%s: fast path gave up (%s); decoding sequentially", probe.path, exc)
    else:
        stats.fell_back_to_sequential = True
        stats.fallback_reason = "timestamps missing or duplicated"
    yield from _decode_sequential(probe, targets, done, convert_frame, threads, stats)


def _decoded(position: int, frame_idx: int, frame: av.VideoFrame, convert_frame) -> DecodedFrame:
    image = convert_frame(frame) if convert_frame else None
    return DecodedFrame(position, frame_idx, image, upright_quarter_turns(frame))


def _prepare_decoder(stream: av.video.stream.VideoStream, threads: int) -> None:
    ctx = stream.codec_context
    threads = _safe_thread_count(threads)
    ctx.thread_count = max(1, threads)
    ctx.thread_type = "FRAME" if threads > 1 else "SLICE"


def _decode_packet(ctx, packet: av.Packet | None, stats: DecodeStats) -> list[av.VideoFrame]:
    """Frames the decoder releases after ``packet`` (None drains it at end of stream)."""
    stats.packets_sent += packet is not None
    try:
        frames = ctx.decode(packet)
    except (av.error.FFmpegError, EOFError):
        # A damaged packet: like FFmpeg's own tools, drop it and go on. A target lost this way
        # is reported by the caller.
        return []
    stats.frames_decoded += len(frames)
    return frames


def _frames_in_output_order(container, stream, stats: DecodeStats) -> Iterator[av.VideoFrame]:
    """Every frame of the stream from the demuxer's position, drained at the end."""
    ctx = stream.codec_context
    for packet in container.demux(stream):
        if packet.size > 0:
            yield from _decode_packet(ctx, packet, stats)
    yield from _decode_packet(ctx, None, stats)


def _packet_ts(packet: av.Packet) -> int | None:
    return packet.pts if packet.pts is not None else packet.dts


def _gop_of(probe: VideoProbe, pts: int) -> int:
    """Index of the last key frame at or before ``pts`` (-1 before the first key frame)."""
    return int(np.searchsorted(probe.keyframe_pts, pts, side="right")) - 1


def _seek_to_gop(container, stream, probe: VideoProbe, gop: int, stats: DecodeStats):
    """Position the demuxer at key frame ``gop`` or an earlier one.

    Demuxers index by decode time or by presentation time depending on the container, so a seek
    to a key frame's timestamp can overshoot to the next key frame on very short GOPs; then we
    aim one key frame earlier, twice at most. Returns ``(packets, gop_landed)``.
    """
    ctx = stream.codec_context
    for aim in range(gop, max(gop - 3, -2), -1):
        seek_pts = int(probe.keyframe_pts[aim]) if aim >= 0 else int(probe.frame_pts[0])
        container.seek(seek_pts, stream=stream, backward=True, any_frame=False)
        ctx.flush_buffers()
        stats.seeks += 1
        packets = container.demux(stream)
        first = next((p for p in packets if p.size > 0), None)
        if first is None:
            break
        ts = _packet_ts(first)
        if ts is None:
            raise _SeekUntrusted("a packet without timestamp")
        landed = _gop_of(probe, ts)
        if gop < 0 or (first.is_keyframe and landed <= gop):
            return itertools.chain([first], packets), landed
    raise _SeekUntrusted(f"seeking to key frame {gop} landed past it")


def _decode_seeking(
    probe: VideoProbe, targets: list[int], convert_frame, threads: int, stats: DecodeStats
) -> Iterator[DecodedFrame]:
    if not targets:
        return
    target_pts = [int(pts) for pts in probe.frame_pts[targets]]
    target_gop = [_gop_of(probe, pts) for pts in target_pts]
    wanted_pts = set(target_pts)
    container = _open(probe.path)
    try:
        stream = _video_stream(container)
        _prepare_decoder(stream, threads)
        ctx = stream.codec_context
        head = 0  # position of the first target not yet produced
        packets = None
        current_gop = -2  # GOP of the last key frame fed to the decoder
        while True:
            if packets is None or target_gop[head] > current_gop:
                # The head target's key frame lies ahead: jumping there beats decoding up to it.
                packets, current_gop = _seek_to_gop(container, stream, probe, target_gop[head], stats)
            packet = next(packets, None)
            at_end = packet is None or packet.size == 0
            if at_end:
                frames = _decode_packet(ctx, None, stats)
            else:
                ts = _packet_ts(packet)
                if ts is None:
                    raise _SeekUntrusted("a packet without timestamp")
                if packet.is_keyframe:
                    current_gop = max(current_gop, _gop_of(probe, ts))
                # Frames no other frame references need not be reconstructed unless wanted.
                ctx.skip_frame = "DEFAULT" if ts in wanted_pts else "NONREF"
                frames = _decode_packet(ctx, packet, stats)
            for frame in frames:
                if frame.pts is None:
                    raise _SeekUntrusted("a decoded frame without timestamp")
                if frame.pts < target_pts[head]:
                    continue
                if frame.pts > target_pts[head]:
                    # Output comes in presentation order, so the head target was dropped.
                    raise _SeekUntrusted(f"frame {targets[head]} was not produced")
                yield _decoded(head, targets[head], frame, convert_frame)
                head += 1
                if head == len(targets):
                    return
            if at_end:
                raise _SeekUntrusted(f"end of stream before frame {targets[head]}")
    finally:
        container.close()


def _decode_sequential(
    probe: VideoProbe, targets: list[int], start_position: int, convert_frame, threads: int, stats: DecodeStats
) -> Iterator[DecodedFrame]:
    """Decode every frame from the start of the file.

    Frames are identified by timestamp when the probe's timestamps are reliable, else by their
    rank in output order.
    """
    if start_position >= len(targets):
        return
    by_pts = probe.timestamps_reliable
    target_key = [int(probe.frame_pts[t]) for t in targets] if by_pts else list(targets)
    container = _open(probe.path)
    try:
        stream = _video_stream(container)
        _prepare_decoder(stream, threads)
        head = start_position
        output_rank = 0
        for frame in _frames_in_output_order(container, stream, stats):
            key = frame.pts if by_pts else output_rank
            output_rank += 1
            if key is None or key < target_key[head]:
                continue
            if key > target_key[head]:
                break  # the head target was dropped by the decoder: damaged stream
            yield _decoded(head, targets[head], frame, convert_frame)
            head += 1
            if head == len(targets):
                return
    finally:
        container.close()
    raise VideoError(f"damaged stream: frame {targets[head]} of {probe.num_frames} could not be decoded")
