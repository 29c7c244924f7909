"""Ground-truth strings of the three tasks, in the formats the prompts ask for."""

from __future__ import annotations

from collections.abc import Sequence


def grounding_truth(start_frame_pos: int, end_frame_pos: int, sample_fps: float) -> str:
    """``"{start:.1f}-{end:.1f}"`` seconds on the model's clock (frame ``i`` at ``i / fps``).

    ``end_frame_pos`` is exclusive: the time of the first unperturbed frame after the segment.

    >>> grounding_truth(10, 22, 4.8)
    '2.1-4.6'
    """
    return f"{start_frame_pos / sample_fps:.1f}-{end_frame_pos / sample_fps:.1f}"


def counting_truth(counts: Sequence[int]) -> str:
    """``"circles,squares,triangles"``, e.g. ``"3,1,4"``."""
    return ",".join(str(int(c)) for c in counts)


def jigsaw_truth(clip_order: Sequence[int]) -> str:
    """Digit ``k`` is the 1-based position at which original clip ``k`` is shown.

    ``clip_order[p]`` is the original clip (0-based) shown at position ``p``.

    >>> jigsaw_truth([2, 0, 1])  # clip 0 shown 2nd, clip 1 shown 3rd, clip 2 shown 1st
    '231'
    """
    position_of = {clip: position for position, clip in enumerate(clip_order)}
    return "".join(str(position_of[clip] + 1) for clip in range(len(clip_order)))
