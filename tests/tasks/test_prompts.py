"""Prompt snapshots: every prompt string, character for character, as SPEC §3 and §7 publish them.

Each expected text is written out here in full (not built from the code's templates), so a prompt
can never change silently: not a space, not the double period after descriptions that end in one
(kept from the released template), not lmms-eval's "seonds" typo in the grounding-eval prompt.
"""

from __future__ import annotations

import pytest

from videossr.eval.external import VQA_PROMPT, VTG_PROMPT
from videossr.tasks.grounding import grounding_question
from videossr.tasks.perturbations import PERTURBATIONS
from videossr.tasks.prompts import (
    COUNTING_QUESTION,
    JIGSAW_QUESTIONS,
    SYSTEM_PROMPT,
    chat,
    jigsaw_user_message,
    single_video_user_message,
)

GROUNDING_QUESTIONS = {
    "Saturation": (
        "In a segment of this video, the colors in the video become oversaturated and unnaturally "
        "vibrant. Your task is to identify the precise time interval of this change. Please only provide "
        "the start and end times in seconds, formatted as <start_time>-<end_time> (e.g., '14.5-26.2')."
    ),
    "Noise": (
        "In a segment of this video, Gaussian noise is added to the video. Your task is to identify the "
        "precise time interval of this change. Please only provide the start and end times in seconds, "
        "formatted as <start_time>-<end_time> (e.g., '14.5-26.2')."
    ),
    "Blur": (
        "In a segment of this video, the video becomes blurry or out of focus. Your task is to identify "
        "the precise time interval of this change. Please only provide the start and end times in "
        "seconds, formatted as <start_time>-<end_time> (e.g., '14.5-26.2')."
    ),
    "Grayscale": (
        "In a segment of this video, the video becomes black and white. Your task is to identify the "
        "precise time interval of this change. Please only provide the start and end times in seconds, "
        "formatted as <start_time>-<end_time> (e.g., '14.5-26.2')."
    ),
    "Invert": (
        "In a segment of this video, the colors in the video are inverted. Your task is to identify the "
        "precise time interval of this change. Please only provide the start and end times in seconds, "
        "formatted as <start_time>-<end_time> (e.g., '14.5-26.2')."
    ),
    "ChannelSwap": (
        "In a segment of this video, the red and blue color channels in the video are swapped. Your task "
        "is to identify the precise time interval of this change. Please only provide the start and end "
        "times in seconds, formatted as <start_time>-<end_time> (e.g., '14.5-26.2')."
    ),
    "ZoomIn": (
        "In a segment of this video, the video is zoomed in. Your task is to identify the precise time "
        "interval of this change. Please only provide the start and end times in seconds, formatted as "
        "<start_time>-<end_time> (e.g., '14.5-26.2')."
    ),
    "Rotate180": (
        "In a segment of this video, the video is rotated 180 degrees. Your task is to identify the "
        "precise time interval of this change. Please only provide the start and end times in seconds, "
        "formatted as <start_time>-<end_time> (e.g., '14.5-26.2')."
    ),
    "ZoomOut": (
        "In a segment of this video, the video is zoomed out. Your task is to identify the precise time "
        "interval of this change. Please only provide the start and end times in seconds, formatted as "
        "<start_time>-<end_time> (e.g., '14.5-26.2')."
    ),
    "Mirror": (
        "In a segment of this video, The video is mirrored horizontally. Your task is to identify the "
        "precise time interval of this change. Please only provide the start and end times in seconds, "
        "formatted as <start_time>-<end_time> (e.g., '14.5-26.2')."
    ),
    "Rotate90": (
        "In a segment of this video, the video is rotated 90 degrees clockwise. Your task is to identify "
        "the precise time interval of this change. Please only provide the start and end times in "
        "seconds, formatted as <start_time>-<end_time> (e.g., '14.5-26.2')."
    ),
    "Rotate270": (
        "In a segment of this video, the video is rotated 270 degrees clockwise. Your task is to "
        "identify the precise time interval of this change. Please only provide the start and end times "
        "in seconds, formatted as <start_time>-<end_time> (e.g., '14.5-26.2')."
    ),
    "Swap": (
        "In a segment of this video, the clip is replaced by a clip from another video. Your task is to "
        "identify the precise time interval of this change. Please only provide the start and end times "
        "in seconds, formatted as <start_time>-<end_time> (e.g., '14.5-26.2')."
    ),
    "Shuffle": (
        "In a segment of this video, the frames are shuffled, this means the order of events is "
        "scrambled, making the action appear illogical and chaotic. Your task is to identify the precise "
        "time interval of this change. Please only provide the start and end times in seconds, formatted "
        "as <start_time>-<end_time> (e.g., '14.5-26.2')."
    ),
    "StutterHold": (
        "In a segment of this video, the video appears to freeze and stutter on a few frames, this means "
        "instead of playing smoothly, the video repeatedly freezes on a single frame before jumping to "
        "the next.. Your task is to identify the precise time interval of this change. Please only "
        "provide the start and end times in seconds, formatted as <start_time>-<end_time> (e.g., "
        "'14.5-26.2')."
    ),
    "Slow": (
        "In a segment of this video, the video slows down, this means the action unfolds at an unusually "
        "slow pace, making movements appear prolonged.. To ensure a fair challenge, even if the video's "
        "actual speed changes (e.g., slow motion or fast forward), the timestamps for each frame have "
        "been intentionally kept evenly spaced. This creates the illusion of a constant playback speed. "
        "Therefore, you should not rely on the timestamps when judging the speed. Instead, your judgment "
        "must be based solely on the visual content. You should analyze the motion within the video "
        "itself by observing how much or how little the scene changes between consecutive frames to "
        "determine the true playback speed. Your task is to identify the precise time interval of this "
        "change. Please only provide the start and end times in seconds, formatted as "
        "<start_time>-<end_time> (e.g., '14.5-26.2')."
    ),
    "Fast": (
        "In a segment of this video, the video speeds up, this means the segment plays at a high speed, "
        "compressing the action and making movements appear jerky or rushed.. To ensure a fair "
        "challenge, even if the video's actual speed changes (e.g., slow motion or fast forward), the "
        "timestamps for each frame have been intentionally kept evenly spaced. This creates the illusion "
        "of a constant playback speed. Therefore, you should not rely on the timestamps when judging the "
        "speed. Instead, your judgment must be based solely on the visual content. You should analyze "
        "the motion within the video itself by observing how much or how little the scene changes "
        "between consecutive frames to determine the true playback speed. Your task is to identify the "
        "precise time interval of this change. Please only provide the start and end times in seconds, "
        "formatted as <start_time>-<end_time> (e.g., '14.5-26.2')."
    ),
}

COUNTING = (
    "Count the number of circles, squares, and triangles that appear in this video. Be aware that "
    "the shapes can appear in any color and at any angle of rotation. They may be present on one or "
    "multiple frames, and any given frame can contain more than one shape. Provide the answer as "
    "three comma-separated numbers in the format: circles,squares,triangles. For example, if you see "
    "3 circles, 1 square, and 4 triangles, your answer should be '3,1,4'."
)

JIGSAW = {
    6: (
        "This video is presented as 6 separate clips, which are in a shuffled order. Your task is to "
        "determine the correct chronological sequence. Please output a six-digit number that specifies "
        "the order in which to play the clips you are seeing (labeled 1 through 6 by their position). "
        "For example, if you decide that the clip at position 3 of this video is the true beginning (the "
        "1st clip of the original video), the clip at position 4 is the 2nd part, the clip at position 1 "
        "is the 3rd part, the clip at position 5 is the 4th part, the clip at position 6 is the 5th "
        "part, and finally the clip at position 2 is the 6th part, then your answer should be '341562'."
    ),
    8: (
        "This video is presented as 8 separate clips, which are in a shuffled order. Your task is to "
        "determine the correct chronological sequence. Please output an eight-digit number that "
        "specifies the order in which to play the clips you are seeing (labeled 1 through 8 by their "
        "position). For example, if you decide that the clip at position 5 of this video is the true "
        "beginning (the 1st clip of the original video), the clip at position 1 is the 2nd part, the "
        "clip at position 8 is the 3rd part, the clip at position 2 is the 4th part, the clip at "
        "position 7 is the 5th part, the clip at position 4 is the 6th part, the clip at position 6 is "
        "the 7th part, and finally the clip at position 3 is the 8th part, then your answer should be "
        "'51827463'."
    ),
}

VTG_FOR_A_DOOR = (
    "Please find the visual event described by a sentence in the video, determining its starting and "
    "ending times. The format should be: 'The event happens in the start time - end time'. For "
    "example, The event 'person turn a light on' happens in the 24.3 - 30.4 seonds. Now I will give "
    "you the textual sentence: a person opens a door. Please return its start time and end time."
)


def test_system_prompt():
    assert SYSTEM_PROMPT == "Based on this video, provide the answer directly."
    assert chat("x") == [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": "x"}]


def test_every_perturbation_has_a_pinned_question():
    assert sorted(PERTURBATIONS) == sorted(GROUNDING_QUESTIONS)


@pytest.mark.parametrize("name", sorted(GROUNDING_QUESTIONS))
def test_grounding_question(name):
    assert grounding_question(PERTURBATIONS[name]) == GROUNDING_QUESTIONS[name]


def test_single_video_user_message():
    assert single_video_user_message(COUNTING_QUESTION) == "<video>\n" + COUNTING


def test_counting_question():
    assert COUNTING_QUESTION == COUNTING


@pytest.mark.parametrize("num_clips", [6, 8])
def test_jigsaw_question_and_user_message(num_clips):
    assert JIGSAW_QUESTIONS[num_clips] == JIGSAW[num_clips]
    clips = "".join(f"Clip {k}: <video>\n" for k in range(1, num_clips + 1))
    assert jigsaw_user_message(num_clips) == clips + JIGSAW[num_clips]


def test_video_qa_prompt():
    assert (
        VQA_PROMPT.format(question="Q?\nA. yes\nB. no") == "Q?\nA. yes\nB. no\nAnswer with the option letter directly."
    )


def test_temporal_grounding_prompt_keeps_lmms_evals_typo():
    assert VTG_PROMPT.format(question="a person opens a door.") == VTG_FOR_A_DOOR
