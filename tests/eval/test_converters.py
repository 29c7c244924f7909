"""Converters read each benchmark's own format, count what they fix, and refuse what they cannot read."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from media import REPO_ROOT

from videossr.errors import ConfigError
from videossr.eval import convert
from videossr.eval.external import validate_records


def _write(path, obj) -> str:
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj, indent=2))
    return str(path)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "eval" / "convert.py"), *args],
        capture_output=True,
        text=True,
        env={**os.environ},
    )


# ---- grounding ------------------------------------------------------------------------------


def test_charades_counts_reversed_past_duration_zero_length_duplicates_and_missing_durations(tmp_path):
    (tmp_path / "sta.txt").write_text(
        "AO8RW 0.0 6.9##a person puts a book away.\n"
        "AO8RW 8.1 5.0##reversed.\n"  # reversed: fixed and counted
        "AO8RW 20.0 28.2##past the end.\n"  # the video is 26.7 s long: kept, counted
        "AO8RW 3.0 3.0##zero length.\n"
        "AO8RW 0.0 6.9##A person puts a book away.\n"  # a duplicate of line 1 (case aside)
        "B 1 2##no duration.\n"
    )
    (tmp_path / "c.csv").write_text("id,length\nAO8RW,26.7\n")
    result = convert.convert_charades_sta(tmp_path / "sta.txt", convert.read_charades_durations(tmp_path / "c.csv"))
    assert [r["id"] for r in result.records] == ["AO8RW#0", "AO8RW#1", "AO8RW#2", "AO8RW#3", "AO8RW#4", "B#0"]
    assert result.records[1]["ground_truth"] == "5.00 - 8.10" and result.records[0]["duration_s"] == 26.7
    assert result.counts.as_dict() == {
        "records": 6,
        "videos": 2,
        "duplicates": 1,
        "missing_durations": 1,
        "reversed_spans_fixed": 1,
        "spans_past_duration": 1,
        "max_past_duration_s": 1.5,
        "zero_length_spans": 1,
    }
    validate_records(result.records, "vtg")  # what a converter writes, the eval reads


def test_a_utf8_byte_order_mark_adds_no_phantom_video(tmp_path):
    (tmp_path / "sta.txt").write_bytes("\ufeffAO8RW 0.0 6.9##a person.\n".encode("utf-8"))
    (tmp_path / "c.csv").write_bytes("\ufeffid,length\nAO8RW,26.7\n".encode("utf-8"))
    result = convert.convert_charades_sta(tmp_path / "sta.txt", convert.read_charades_durations(tmp_path / "c.csv"))
    assert result.records[0]["video"] == "AO8RW" and result.records[0]["duration_s"] == 26.7


@pytest.mark.parametrize(
    "content, message",
    [
        ("AO8RW 0.0 6.9##caf\xe9\n".encode("latin-1"), r"sta.txt:1: not UTF-8 \(byte 0xe9\)"),
        ("AO8RW 0.0 6.9##a.\nB 1 2##x\n".encode("utf-16"), "sta.txt:1: the file is UTF-16"),
        (b"AO8RW 0.0 6.9##a.\nB nan 2##x\n", "sta.txt:2: start 'nan' must be a finite time"),
        (b"AO8RW 0.0 inf##a.\n", "sta.txt:1: end 'inf' must be a finite time"),
        (b"AO8RW -1.0 2##a.\n", "sta.txt:1: start '-1.0' must be a finite time >= 0"),
        (b"AO8RW 0.0##no end\n", "sta.txt:1: expected 'VIDEOID start end##sentence'"),
        (b"AO8RW x 2##a.\n", "sta.txt:1: start 'x' is not a number"),
    ],
)
def test_charades_refuses_what_it_cannot_read_naming_file_and_line(tmp_path, content, message):
    (tmp_path / "sta.txt").write_bytes(content)
    with pytest.raises(ConfigError, match=message):
        convert.convert_charades_sta(tmp_path / "sta.txt")


def test_a_durations_file_of_the_wrong_split_is_an_error(tmp_path):
    (tmp_path / "sta.txt").write_text("AO8RW 0.0 6.9##a.\nB 1 2##x\n")
    (tmp_path / "train.csv").write_text("id,length\nZZZZZ,30.0\n")
    with pytest.raises(
        ConfigError, match=r"matches none of the 2 videos .*\(wrong split\? pass the Charades_v1_<split>.csv"
    ):
        convert.convert_charades_sta(tmp_path / "sta.txt", convert.read_charades_durations(tmp_path / "train.csv"))
    (tmp_path / "nan.csv").write_text("id,length\nAO8RW,nan\n")
    with pytest.raises(ConfigError, match="nan.csv:2: length 'nan'"):
        convert.read_charades_durations(tmp_path / "nan.csv")


def test_activitynet_json_converts_and_names_the_line_of_a_bad_timestamp(tmp_path):
    anet = {"v_abc": {"duration": 60.0, "timestamps": [[1, 5], [10, 20]], "sentences": ["one.", "two."]}}
    result = convert.convert_sentences_json(_write(tmp_path / "anet.json", anet), strip_prefix="v_")
    assert [(r["video"], r["ground_truth"], r["duration_s"]) for r in result.records] == [
        ("abc", "1.00 - 5.00", 60.0),
        ("abc", "10.00 - 20.00", 60.0),
    ]
    for stamps, message in [
        ([[1, 2, 0.9]], "timestamp 0 must be \\[start, end\\]"),
        ([None], "must be \\[start, end\\]"),
        ([[1, float("nan")]], "end nan must be a finite time"),
    ]:
        bad = {
            "ok": {"duration": 9, "timestamps": [[1, 2]], "sentences": ["a"]},
            "v_bad": {"duration": 9, "timestamps": stamps, "sentences": ["x"]},
        }
        text = json.dumps(bad, indent=2)
        line = text[: text.index('"v_bad"')].count("\n") + 1  # the line where the bad video's entry starts
        with pytest.raises(ConfigError, match=f"bad.json:{line}: .*{message}"):
            convert.convert_sentences_json(_write(tmp_path / "bad.json", text))
    (tmp_path / "broken.json").write_text('{"a": {"timestamps": [[1, 2]],\n "sentences": ["x"]\n')
    with pytest.raises(ConfigError, match="broken.json:3: not valid JSON"):
        convert.convert_sentences_json(tmp_path / "broken.json")


def test_tvgbench_list_converts_with_video_ids_from_paths(tmp_path):
    rows = [
        {
            "path": "./dataset/timer1/videos/tvgbench_data/KWZSA.mp4",
            "question": "a person was sitting at a table.",
            "answer": "13.4-28.1",
            "start": None,
            "end": None,
            "duration": 30.12,
            "dataset_name": "charades",
            "qsemtype": "Human Pose",
        },
        {"path": "./x/Yy1.mp4", "question": "the man jumps.", "answer": "9.0-3.0", "duration": 20.0, "qsemtype": "HAS"},
    ]
    result = convert.convert_tvgbench(_write(tmp_path / "tvg.json", rows))
    assert [(r["video"], r["ground_truth"], r["category"]) for r in result.records] == [
        ("KWZSA", "13.40 - 28.10", "Human Pose"),
        ("Yy1", "3.00 - 9.00", "HAS"),
    ]
    assert result.counts.reversed_fixed == 1
    rows[1]["answer"] = "9.0"
    with pytest.raises(ConfigError, match=r"tvg.json:\d+: answer '9.0' is not 'start-end'"):
        convert.convert_tvgbench(_write(tmp_path / "tvg.json", rows))


def test_qvhighlights_keeps_every_window_and_scoring_takes_the_best(tmp_path):
    lines = [
        {
            "qid": 2579,
            "query": "A girl and her mother cooked.",
            "duration": 150,
            "vid": "NUsG9BgSes0_210.0_360.0",
            "relevant_windows": [[26, 36], [54, 60]],
        },
        {"qid": 7, "query": "A dog runs.", "duration": 150, "vid": "abc_0.0_150.0", "relevant_windows": [[140, 152]]},
    ]
    (tmp_path / "qvh.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = convert.convert_qvhighlights(tmp_path / "qvh.jsonl")
    assert result.records[0]["id"] == "2579" and result.records[0]["ground_truth"] == ["26.00 - 36.00", "54.00 - 60.00"]
    assert result.counts.past_duration == 1
    from videossr.eval.external import score_vtg

    summary = score_vtg(result.records[:1], {"2579": {"response": "54 - 60"}})
    assert summary["miou"] == pytest.approx(100.0)  # the second window, matched exactly
    (tmp_path / "test.jsonl").write_text(json.dumps({"qid": 1, "query": "q", "vid": "v", "duration": 150}) + "\n")
    with pytest.raises(ConfigError, match="test.jsonl:1: query 1 has no relevant_windows"):
        convert.convert_qvhighlights(tmp_path / "test.jsonl")


def test_tacos_frames_become_seconds_through_fps(tmp_path):
    data = {
        "s13-d21.avi": {
            "num_frames": 2940,
            "fps": 29.4,
            "timestamps": [[294, 588], [0, 2940]],
            "sentences": ["He takes out a knife.", "He cooks."],
        }
    }
    result = convert.convert_tacos(_write(tmp_path / "tacos.json", data))
    assert [(r["video"], r["ground_truth"], r["duration_s"]) for r in result.records] == [
        ("s13-d21", "10.00 - 20.00", pytest.approx(100.0)),
        ("s13-d21", "0.00 - 100.00", pytest.approx(100.0)),
    ]
    del data["s13-d21.avi"]["fps"]
    with pytest.raises(ConfigError, match="has no fps .* pass --fps"):
        convert.convert_tacos(_write(tmp_path / "tacos.json", data))
    assert convert.convert_tacos(tmp_path / "tacos.json", fps=29.4).records[0]["ground_truth"] == "10.00 - 20.00"


# ---- multiple choice ------------------------------------------------------------------------


def test_tempcompass_multi_choice_converts_with_dimensions_as_categories(tmp_path):
    data = {
        "1025365757": {
            "speed": [
                {"question": "How fast does the car go?\nA. slowly\nB. fast\nC. at normal speed", "answer": "B. fast"}
            ],
            "direction": [{"question": "Where does it go?\nA. left\nB. right", "answer": "A. left"}],
        }
    }
    result = convert.convert_tempcompass(_write(tmp_path / "mc.json", data))
    assert [(r["id"], r["ground_truth"], r["category"]) for r in result.records] == [
        ("1025365757#speed#0", "B", "speed"),
        ("1025365757#direction#0", "A", "direction"),
    ]
    data["1025365757"]["speed"][0]["answer"] = "D. never"
    with pytest.raises(ConfigError, match="mc.json:2: ground truth 'D. never' is not among the options ABC"):
        convert.convert_tempcompass(_write(tmp_path / "mc.json", data))


def test_mvbench_answer_text_becomes_its_letter_and_the_task_is_the_category(tmp_path):
    folder = tmp_path / "json"
    folder.mkdir()
    _write(
        folder / "action_sequence.json",
        [
            {
                "video": "ZS9XR.mp4",
                "question": "What did the person do first?",
                "candidates": ["Sat.", "Ate.", "Ran."],
                "answer": "Ate.",
                "start": 11.1,
                "end": 20.0,
            },
            {"video": "ZS9XR.mp4", "question": "What next?", "candidates": ["Sat.", "Ate."], "answer": "Sat."},
        ],
    )
    _write(
        folder / "object_shuffle.json",
        [{"video": "v.mp4", "question": "Where?", "candidates": ["left", "right"], "answer": "right"}],
    )
    result = convert.convert_mvbench(folder)
    assert [(r["id"], r["ground_truth"], r["category"]) for r in result.records] == [
        ("action_sequence#0", "B", "action_sequence"),
        ("action_sequence#1", "A", "action_sequence"),
        ("object_shuffle#0", "B", "object_shuffle"),
    ]
    assert result.records[0]["question"] == "What did the person do first?\nA. Sat.\nB. Ate.\nC. Ran."
    assert result.records[0]["clip_start_s"] == 11.1 and result.counts.clip_bounds == 1
    assert result.counts.as_dict()["videos"] == 2
    _write(folder / "bad.json", [{"video": "v.mp4", "question": "?", "candidates": ["a", "b"], "answer": "c"}])
    with pytest.raises(ConfigError, match=r"bad.json:2: ground truth 'c' matches 0 option texts"):
        convert.convert_mvbench(folder)


def test_videomme_parquet_and_json_rows_convert_the_same(tmp_path):
    rows = [
        {
            "video_id": "001",
            "duration": "short",
            "domain": "Knowledge",
            "sub_category": "Humanity & History",
            "videoID": "fFjv93ACGo8",
            "question_id": "001-1",
            "task_type": "Counting Problem",
            "question": "How many red socks are above the fireplace?",
            "options": ["A. 0.", "B. 1.", "C. 2.", "D. 3."],
            "answer": "C",
        },
        {
            "video_id": "001",
            "duration": "short",
            "domain": "Knowledge",
            "sub_category": "Humanity & History",
            "videoID": "fFjv93ACGo8",
            "question_id": "001-2",
            "task_type": "Information Synopsis",
            "question": "What is this video about?",
            "options": ["A. a.", "B. b.", "C. c.", "D. d."],
            "answer": "A",
        },
    ]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "test.parquet")
    from_parquet = convert.convert_videomme(tmp_path / "test.parquet")
    from_json = convert.convert_videomme(_write(tmp_path / "rows.json", rows))
    assert from_parquet.records == from_json.records
    record = from_parquet.records[0]
    assert (record["id"], record["video"], record["ground_truth"], record["category"], record["duration_class"]) == (
        "001-1",
        "fFjv93ACGo8",
        "C",
        "Counting Problem",
        "short",
    )
    assert from_parquet.counts.as_dict()["videos"] == 1 and from_parquet.counts.records == 2
    rows[1]["answer"] = "E"
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "test.parquet")
    with pytest.raises(ConfigError, match="test.parquet:row 2: ground truth 'E' is not among the options ABCD"):
        convert.convert_videomme(tmp_path / "test.parquet")


def test_longvideobench_candidates_or_option_columns_with_the_correct_index(tmp_path):
    rows = [
        {
            "id": "86CxyhFV9MI_0",
            "video_id": "86CxyhFV9MI",
            "video_path": "86CxyhFV9MI.mp4",
            "duration": 20.0,
            "question": "What is the man wearing?",
            "candidates": ["a hat", "a scarf", "gloves"],
            "correct_choice": 2,
            "question_category": "T3O",
        }
    ]
    result = convert.convert_longvideobench(_write(tmp_path / "lvb_val.json", rows))
    assert (result.records[0]["video"], result.records[0]["ground_truth"], result.records[0]["duration_s"]) == (
        "86CxyhFV9MI",
        "C",
        20.0,
    )
    flat = {k: v for k, v in rows[0].items() if k != "candidates"}
    flat |= {"option0": "a hat", "option1": "a scarf", "option2": "gloves", "option3": "N/A", "option4": "N/A"}
    pq.write_table(pa.Table.from_pylist([flat]), tmp_path / "val.parquet")
    assert convert.convert_longvideobench(tmp_path / "val.parquet").records == result.records
    rows[0]["correct_choice"] = 3
    with pytest.raises(ConfigError, match="answer index 3 is outside the 3 options"):
        convert.convert_longvideobench(_write(tmp_path / "lvb_val.json", rows))


def test_lvbench_meta_jsonl_with_inline_options(tmp_path):
    line = {
        "key": "Cm73ma6Ibcs",
        "type": "documentary",
        "video_info": {"duration_minutes": 60.5},
        "qa": [
            {
                "uid": "1",
                "question": "What year appears?\n(A) 1636\n(B) 1366\n(C) 1363\n(D) 1633",
                "answer": "D",
                "question_type": ["key information retrieval"],
                "time_reference": "03:24-03:31",
            },
            {
                "uid": "2",
                "question": "Who speaks? (A) a man (B) a woman",
                "answer": "B",
                "question_type": ["entity recognition"],
            },
        ],
    }
    (tmp_path / "meta.jsonl").write_text("\ufeff" + json.dumps(line) + "\n")
    result = convert.convert_lvbench(tmp_path / "meta.jsonl")
    assert [(r["id"], r["video"], r["ground_truth"], r["category"]) for r in result.records] == [
        ("1", "Cm73ma6Ibcs", "D", "key information retrieval"),
        ("2", "Cm73ma6Ibcs", "B", "entity recognition"),
    ]
    assert result.records[0]["duration_s"] == pytest.approx(3630.0)
    validate_records(result.records, "vqa")
    line["qa"][1]["answer"] = "Z"
    (tmp_path / "meta.jsonl").write_text(json.dumps(line) + "\n")
    with pytest.raises(ConfigError, match="meta.jsonl:1: ground truth 'Z' is not among the options AB"):
        convert.convert_lvbench(tmp_path / "meta.jsonl")


def test_videommmu_multiple_choice_converts_and_open_questions_are_counted(tmp_path):
    rows = [
        {
            "id": "validation_Art_Theory_1",
            "question": "Which style is shown?",
            "question_type": "multiple-choice",
            "options": ["A. Baroque", "B. Gothic", "C. Rococo"],
            "answer": "B",
        },
        {
            "id": "validation_Art_Theory_2",
            "question": "Which colour?",
            "question_type": "multiple-choice",
            "options": ["red", "blue"],
            "answer": "A",
        },
        {"id": "validation_Math_3", "question": "What is x?", "question_type": "open", "options": [], "answer": "12"},
    ]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "test.parquet")
    result = convert.convert_videommmu(tmp_path / "test.parquet")
    assert [(r["video"], r["ground_truth"], r["category"]) for r in result.records] == [
        ("validation_Art_Theory_1", "B", "Art_Theory"),
        ("validation_Art_Theory_2", "A", "Art_Theory"),
    ]
    assert result.records[0]["question"] == "Which style is shown?\nA. Baroque\nB. Gothic\nC. Rococo"  # lettered once
    assert result.counts.as_dict()["open_questions_skipped"] == 1
    with pytest.raises(ConfigError, match="all 1 questions are open"):
        convert.convert_videommmu(_write(tmp_path / "open.json", rows[2:]))


def test_repeated_ids_and_empty_files_are_errors(tmp_path):
    line = {"qid": 1, "query": "q", "vid": "v", "duration": 9, "relevant_windows": [[1, 2]]}
    (tmp_path / "q.jsonl").write_text(json.dumps(line) + "\n" + json.dumps(line) + "\n")
    with pytest.raises(ConfigError, match="q.jsonl:2: id '1' repeats"):
        convert.convert_qvhighlights(tmp_path / "q.jsonl")
    (tmp_path / "e.json").write_text("[]")
    with pytest.raises(ConfigError, match="no entries found"):
        convert.convert_tvgbench(tmp_path / "e.json")
    (tmp_path / "d.json").write_text("{}")
    with pytest.raises(ConfigError, match="d.json:1: expected a list of entries"):
        convert.convert_tvgbench(tmp_path / "d.json")


# ---- the command line -----------------------------------------------------------------------


def test_convert_cli_prints_counts_and_refuses_in_one_line(tmp_path):
    (tmp_path / "sta.txt").write_text("AO8RW 8.1 5.0##reversed.\nAO8RW 20.0 28.2##past.\n")
    (tmp_path / "c.csv").write_text("id,length\nAO8RW,26.7\n")
    out = tmp_path / "out.json"
    ok = _cli(
        "charades",
        "--annotations",
        str(tmp_path / "sta.txt"),
        "--durations",
        str(tmp_path / "c.csv"),
        "--output",
        str(out),
    )
    assert ok.returncode == 0, ok.stderr
    assert (
        "charades: 2 records over 1 videos, 1 reversed spans fixed, 1 spans past the duration (by up to 1.50 s, "
        "kept as is), 0 zero-length spans, 0 missing durations, 0 duplicates"
    ) in ok.stdout
    assert len(json.loads(out.read_text())) == 2
    (tmp_path / "bad.json").write_bytes(
        json.dumps([{"path": "a.mp4", "question": "caf\xe9", "answer": "1-2"}], ensure_ascii=False).encode("latin-1")
    )
    bad = _cli("tvgbench", "--input", str(tmp_path / "bad.json"), "--output", str(tmp_path / "o2.json"))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "bad.json:1: not UTF-8" in bad.stderr
    assert not (tmp_path / "o2.json").exists()
    tacos = _cli(
        "tacos",
        "--input",
        _write(tmp_path / "t.json", {"s1.avi": {"timestamps": [[0, 30]], "sentences": ["x"]}}),
        "--fps",
        "30",
        "--output",
        str(tmp_path / "t_out.json"),
    )
    assert tacos.returncode == 0, tacos.stderr
    assert json.loads((tmp_path / "t_out.json").read_text())[0]["ground_truth"] == "0.00 - 1.00"
