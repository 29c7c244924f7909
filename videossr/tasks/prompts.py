"""Every prompt text of the pretext tasks, exactly as published (snapshot-tested).

The system message and the templates are the paper's; the perturbation descriptions are the
released code's (and the paper's for Slow and Fast, which the released code lacks).
"""

from __future__ import annotations

SYSTEM_PROMPT = "Based on this video, provide the answer directly."

GROUNDING_TEMPLATE = (
    "In a segment of this video, {description}.{speed_note} Your task is to identify the precise time "
    "interval of this change. Please only provide the start and end times in seconds, formatted as "
    "<start_time>-<end_time> (e.g., '14.5-26.2')."
)

#: The paper's note for the perturbations that change playback speed (Slow, Fast), verbatim from
#: its App. B.1: the frames keep evenly spaced timestamps, so the timestamps cannot reveal the
#: segment. The paper does not say where in the question it goes; it follows the description
#: sentence (SPEC §3.1).
SPEED_NOTE = (
    "To ensure a fair challenge, even if the video's actual speed changes (e.g., slow motion or fast "
    "forward), the timestamps for each frame have been intentionally kept evenly spaced. This creates the "
    "illusion of a constant playback speed. Therefore, you should not rely on the timestamps when judging "
    "the speed. Instead, your judgment must be based solely on the visual content. You should analyze the "
    "motion within the video itself by observing how much or how little the scene changes between "
    "consecutive frames to determine the true playback speed."
)

COUNTING_QUESTION = (
    "Count the number of circles, squares, and triangles that appear in this video. Be aware that the "
    "shapes can appear in any color and at any angle of rotation. They may be present on one or multiple "
    "frames, and any given frame can contain more than one shape. Provide the answer as three "
    "comma-separated numbers in the format: circles,squares,triangles. For example, if you see 3 circles, "
    "1 square, and 4 triangles, your answer should be '3,1,4'."
)

JIGSAW_QUESTIONS = {
    6: (
        "This video is presented as 6 separate clips, which are in a shuffled order. Your task is to "
        "determine the correct chronological sequence. Please output a six-digit number that specifies the "
        "order in which to play the clips you are seeing (labeled 1 through 6 by their position). For "
        "example, if you decide that the clip at position 3 of this video is the true beginning (the 1st "
        "clip of the original video), the clip at position 4 is the 2nd part, the clip at position 1 is the "
        "3rd part, the clip at position 5 is the 4th part, the clip at position 6 is the 5th part, and "
        "finally the clip at position 2 is the 6th part, then your answer should be '341562'."
    ),
    8: (
        "This video is presented as 8 separate clips, which are in a shuffled order. Your task is to "
        "determine the correct chronological sequence. Please output an eight-digit number that specifies "
        "the order in which to play the clips you are seeing (labeled 1 through 8 by their position). For "
        "example, if you decide that the clip at position 5 of this video is the true beginning (the 1st "
        "clip of the original video), the clip at position 1 is the 2nd part, the clip at position 8 is the "
        "3rd part, the clip at position 2 is the 4th part, the clip at position 7 is the 5th part, the clip "
        "at position 4 is the 6th part, the clip at position 6 is the 7th part, and finally the clip at "
        "position 3 is the 8th part, then your answer should be '51827463'."
    ),
}


def single_video_user_message(question: str) -> str:
    """User message of grounding and counting: the video placeholder, a newline, the question."""
    return f"<video>\n{question}"


def jigsaw_user_message(num_clips: int) -> str:
    """User message of jigsaw: one ``Clip k: <video>`` line per clip, then the question."""
    clips = "\n".join(f"Clip {k}: <video>" for k in range(1, num_clips + 1))
    return f"{clips}\n{JIGSAW_QUESTIONS[num_clips]}"


def chat(user_message: str) -> list[dict[str, str]]:
    """The verl ``prompt`` column: system then user message."""
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user_message}]
