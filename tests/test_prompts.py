"""Prompt snapshots: the published texts, character for character (SPEC §3)."""

from __future__ import annotations

from videossr.tasks.grounding import grounding_question
from videossr.tasks.perturbations import PERTURBATIONS, get_perturbation
from videossr.tasks.prompts import COUNTING_QUESTION, JIGSAW_QUESTIONS, SYSTEM_PROMPT, chat, jigsaw_user_message


def test_system_prompt():
    assert SYSTEM_PROMPT == "Based on this video, provide the answer directly."
    assert chat("x")[0] == {"role": "system", "content": SYSTEM_PROMPT}


def test_grounding_question_for_channelswap():
    assert grounding_question(get_perturbation("ChannelSwap")) == (
        "In a segment of this video, the red and blue color channels in the video are swapped. Your task is to "
        "identify the precise time interval of this change. Please only provide the start and end times in "
        "seconds, formatted as <start_time>-<end_time> (e.g., '14.5-26.2')."
    )


def test_descriptions_as_published():
    expected = {
        "Rotate180": "the video is rotated 180 degrees",
        "ZoomOut": "the video is zoomed out",
        "Mirror": "The video is mirrored horizontally",
        "Shuffle": "the frames are shuffled, this means the order of events is scrambled, making the action "
        "appear illogical and chaotic",
        "Grayscale": "the video becomes black and white",
        "Invert": "the colors in the video are inverted",
        "Noise": "Gaussian noise is added to the video",
        "Blur": "the video becomes blurry or out of focus",
        "Saturation": "the colors in the video become oversaturated and unnaturally vibrant",
        "ZoomIn": "the video is zoomed in",
        "Rotate90": "the video is rotated 90 degrees clockwise",
        "Rotate270": "the video is rotated 270 degrees clockwise",
        "Swap": "the clip is replaced by a clip from another video",
    }
    for name, description in expected.items():
        assert PERTURBATIONS[name].description == description, name


def test_speed_perturbations_carry_the_timestamp_note_and_others_do_not():
    for name, perturbation in PERTURBATIONS.items():
        has_note = "timestamps of the frames were deliberately kept evenly spaced" in grounding_question(perturbation)
        assert has_note == (name in ("Slow", "Fast")), name


def test_counting_question():
    assert COUNTING_QUESTION.startswith("Count the number of circles, squares, and triangles that appear in this video.")
    assert COUNTING_QUESTION.endswith("your answer should be '3,1,4'.")


def test_jigsaw_user_message_has_one_placeholder_line_per_clip():
    message = jigsaw_user_message(6)
    lines = message.split("\n")
    assert lines[:6] == [f"Clip {k}: <video>" for k in range(1, 7)]
    assert lines[6] == JIGSAW_QUESTIONS[6]
    assert "'341562'" in JIGSAW_QUESTIONS[6] and "six-digit" in JIGSAW_QUESTIONS[6]
    assert "'51827463'" in JIGSAW_QUESTIONS[8] and "eight-digit" in JIGSAW_QUESTIONS[8]
    assert "8 separate clips" in JIGSAW_QUESTIONS[8] and "labeled 1 through 8" in JIGSAW_QUESTIONS[8]
