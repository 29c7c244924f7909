"""The three self-supervised pretext tasks: Anomaly Grounding, Object Counting, Temporal Jigsaw.

Each task module turns the frames of one video into one verifiable sample (the frames the model
sees, the question and the ground truth) from an explicit ``numpy.random.Generator``; nothing in
this package reads or writes files except through the :class:`~videossr.frames.folder.VideoFrames`
handed in and the writer handed back.
"""

#: Task names: registry key, CLI value, parquet ``data_source``, reward key and metric prefix.
GROUNDING = "grounding"
COUNTING = "counting"
JIGSAW = "jigsaw"
TASK_NAMES = (GROUNDING, COUNTING, JIGSAW)
