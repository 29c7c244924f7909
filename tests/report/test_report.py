"""The HTML reports, looked at as a person would: built from real runs, opened in headless Chromium.

Runs are made here: the random baseline and a tiny random Qwen3-VL on a mini VIUBench (2 items per
subtype), and the random baseline on a small temporal-grounding file with one missing video. The
rendered DOM (after the page's script ran) must show summary.json's numbers, the expected gallery
items, and the filters must select exactly the items an independent re-scoring selects.

Set REPORT_SCREENSHOT=docs/report.png to keep the screenshot of the demo-like report (the README's).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
from browser import Dom, dump_dom, find_chromium, screenshot
from media import REPO_ROOT, SAMPLE_VIDEO_DIR

from videossr.data.generation import GenerationSettings, generate_files
from videossr.eval.viubench import build_viubench, load_benchmark, score_response, subtypes, task_order
from videossr.frames.folder import load_index
from videossr.report.html import anchor_id
from videossr.tasks.registry import spec_of

pytestmark = pytest.mark.slow

REPORT = REPO_ROOT / "eval" / "report.py"
PREVIEW = REPO_ROOT / "pretext_tasks" / "preview.py"
HOSTILE = (
    "</script><img src=x onerror=\"document.body.setAttribute('data-pwned','1')\">"
    "<script>document.title='pwned'</script>"
)


@pytest.fixture(scope="module")
def browser():
    if find_chromium() is None:
        reason = "chromium is not installed (bash scripts/setup.sh installs it with apt-get)"
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    return find_chromium()


def _py(script: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, env=env)


@pytest.fixture(scope="module")
def bench(frames_dir, tmp_path_factory) -> Path:
    return build_viubench(
        frames_dir, tmp_path_factory.mktemp("report_bench"), per_subtype=2, seed=0, reuse_videos=True, workers=2
    )


@pytest.fixture(scope="module")
def runs(bench, tmp_path_factory, tiny_model) -> dict[str, Path]:

    root = tmp_path_factory.mktemp("report_runs")
    viubench = REPO_ROOT / "eval" / "viubench.py"
    done = _py(viubench, "run", "--benchmark", str(bench), "--backend", "random", "--output-dir", str(root / "random"))
    assert done.returncode == 0, done.stderr
    model = tiny_model("qwen3_vl")
    done = _py(
        viubench,
        "run",
        "--benchmark",
        str(bench),
        "--model",
        str(model),
        "--max-new-tokens",
        "8",
        "--batch-size",
        "6",
        "--output-dir",
        str(root / "tiny"),
    )
    assert done.returncode == 0, done.stderr
    vtg = root / "vtg.json"
    vtg.write_text(
        json.dumps(
            [
                {
                    "id": "b1",
                    "video": "bikes",
                    "question": "a bike passes.",
                    "ground_truth": "2.0 - 6.0",
                    "category": "motion",
                },
                {
                    "id": "b2",
                    "video": "bikes",
                    "question": "the road is empty.",
                    "ground_truth": "0.0 - 9.0",
                    "category": "motion",
                },
                {
                    "id": "c1",
                    "video": "carphone_pristine",
                    "question": "a man talks.",
                    "ground_truth": "1.0 - 3.0",
                    "category": "people",
                },
                {
                    "id": "x1",
                    "video": "not_there",
                    "question": "nothing.",
                    "ground_truth": "1.0 - 2.0",
                    "category": "people",
                },
            ]
        )
    )
    done = _py(
        REPO_ROOT / "eval" / "vtg.py",
        "--benchmark",
        str(vtg),
        "--video-dir",
        str(SAMPLE_VIDEO_DIR),
        "--backend",
        "random",
        "--output-dir",
        str(root / "vtg"),
    )
    assert done.returncode == 0, done.stderr
    vqa = root / "vqa.json"
    vqa.write_text(
        json.dumps(
            [
                {
                    "id": "q1",
                    "video": "bikes",
                    "question": "What moves?\n(A) bikes\n(B) boats",
                    "ground_truth": "A",
                    "category": "motion",
                },
                {
                    "id": "q2",
                    "video": "carphone_pristine",
                    "question": "Who?\n(A) a man\n(B) a cat\n(C) a dog",
                    "ground_truth": "A",
                    "category": "people",
                },
                {
                    "id": "q3",
                    "video": "bikes",
                    "question": "Where?\n(A) a road\n(B) a lake",
                    "ground_truth": "A",
                    "category": "people",
                },
            ]
        )
    )
    done = _py(
        REPO_ROOT / "eval" / "vqa.py",
        "--benchmark",
        str(vqa),
        "--video-dir",
        str(SAMPLE_VIDEO_DIR),
        "--backend",
        "random",
        "--output-dir",
        str(root / "vqa"),
    )
    assert done.returncode == 0, done.stderr
    return {"random": root / "random", "tiny": root / "tiny", "vtg": root / "vtg", "vqa": root / "vqa"}


@pytest.fixture(scope="module")
def report(runs, tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("report") / "report.html"
    done = _py(
        REPORT, str(runs["random"]), str(runs["tiny"]), str(runs["vtg"]), str(runs["vqa"]), "--output", str(target)
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(str(target))
    return target


def _summary(folder: Path) -> dict:
    return json.loads((folder / "summary.json").read_text())


def _outcomes(folder: Path, bench: Path) -> dict[str, tuple[float, bool]]:
    """(score, parsed) per item, re-scored here from the responses with the scorer's public rule."""
    records = {r["id"]: r for r in load_benchmark(bench)}
    out = {}
    for line in (folder / "responses.jsonl").read_text().splitlines():
        entry = json.loads(line)
        out[entry["id"]] = (
            (0.0, False) if entry.get("error") else score_response(records[entry["id"]], entry["response"])
        )
    return out


def _vtg_outcomes(folder: Path) -> dict[str, tuple[float, bool]]:
    """(IoU, parsed) per grounding item, computed here from the responses and the records."""
    from videossr.eval.parsing import parse_time_span
    from videossr.rewards.grounding import interval_iou

    records = {r["id"]: r for r in json.loads(Path(_summary(folder)["benchmark"]).read_text())}
    out = {}
    for line in (folder / "responses.jsonl").read_text().splitlines():
        entry = json.loads(line)
        span = None if entry.get("error") else parse_time_span(entry["response"])
        truth = parse_time_span(records[entry["id"]]["ground_truth"])
        out[entry["id"]] = (0.0, False) if span is None else (interval_iou(span, truth), True)
    return out


def _vqa_outcomes(folder: Path) -> dict[str, tuple[float, bool]]:
    """(correct, parsed) per multiple-choice item, computed here from the responses and the records."""
    from videossr.eval.external import options_of
    from videossr.eval.parsing import parse_option_letter

    records = {r["id"]: r for r in json.loads(Path(_summary(folder)["benchmark"]).read_text())}
    out = {}
    for line in (folder / "responses.jsonl").read_text().splitlines():
        entry = json.loads(line)
        record = records[entry["id"]]
        letter = None if entry.get("error") else parse_option_letter(entry["response"], options_of(record["question"]))
        out[entry["id"]] = (0.0, False) if letter is None else (float(letter == record["ground_truth"]), True)
    return out


def test_rendered_tables_show_the_summary_numbers_and_every_sampled_item(browser, report, runs, tmp_path):
    dom = Dom(dump_dom(report))
    assert next(e for e in dom.elements if e.tag == "body").attrs.get("data-ready") == "1"  # the script ran
    assert "self-contained" in dom.by_id("size-note").text
    for key, name in (("r0", "random"), ("r1", "tiny")):
        summary = _summary(runs[name])
        for subtype in subtypes():
            assert dom.by_id(anchor_id("viu", key, subtype)).text == f"{summary['subtypes'][subtype]:.1f}"
        for task in task_order():
            assert dom.by_id(f"viu-{key}-task-{task}").text == f"{summary['tasks'][task]:.1f}"
        assert dom.by_id(f"viu-{key}-overall").text == f"{summary['overall']:.1f}"
        assert f"{summary['num_unparsed']} unparsed" in dom.by_id(f"counts-{key}").text
    vtg = _summary(runs["vtg"])
    for metric in ("miou", "recall@0.3", "recall@0.5", "recall@0.7"):
        assert dom.by_id(f"ext-r2-{metric.replace('@', '-').replace('.', '-')}").text == f"{vtg[metric]:.1f}"
    for category, block in vtg["categories"].items():
        assert dom.by_id(f"ext-r2-cat-{category}-miou").text == f"{block['miou']:.1f}"
    assert vtg["num_errors"] == 1 and "1 failed" in dom.by_id("counts-r2").text
    vqa = _summary(runs["vqa"])
    assert dom.by_id("ext-r3-accuracy").text == f"{vqa['accuracy']:.1f}"
    for category, block in vqa["categories"].items():
        assert dom.by_id(f"ext-r3-cat-{category}-accuracy").text == f"{block['accuracy']:.1f}"
    # The paper's published Overall column is there as reference rows.
    assert {"16.1", "19.5", "51.9", "58.7", "56.7"} <= {e.text for e in dom.elements if e.tag == "td"}
    # 2 items per subtype (fewer than --per-group 4: all of them), the 4 grounding and 3 QA items.
    items = dom.with_class("item")
    assert len(items) == 18 + 4 + 3 == len(dom.visible_items())
    assert [e.text for e in dom.with_class("shown-count")] == ["18", "4", "3"]
    # Every item has its contact sheet but the missing video's, which says so instead.
    assert (
        sum(1 for e in dom.elements if e.tag == "img" and e.attrs.get("src", "").startswith("data:image/jpeg"))
        == 18 + 3 + 3
    )
    assert len(dom.with_class("noimg")) == 1
    # Offline: everything the page loads or links is inline (data: URIs) or on the page (#anchors).
    raw = report.read_text()
    assert re.findall(r'(?:src|href)="(?!data:|#)[^"]*"', raw) == [] and "<link" not in raw and "@import" not in raw
    shot = screenshot(report, tmp_path / "report.png")
    image = cv2.imread(str(shot))
    assert image.shape[:2] == (1000, 1280) and image.std() > 20  # a drawn page, not a blank one
    keep = os.environ.get("REPORT_SCREENSHOT")
    if keep:
        _save_small_png(shot, Path(keep))


def _save_small_png(source: Path, target: Path) -> None:
    """A palette PNG (< 300 KB) of the screenshot, for the README."""
    from PIL import Image

    target.parent.mkdir(parents=True, exist_ok=True)
    Image.open(source).convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(target, optimize=True)
    assert target.stat().st_size < 300_000, target.stat().st_size


def test_filters_select_the_items_an_independent_rescoring_selects(browser, report, runs, bench):
    random, tiny = _outcomes(runs["random"], bench), _outcomes(runs["tiny"], bench)
    ids = sorted(random)
    wrong = sum(random[i][0] < 1 or tiny[i][0] < 1 for i in ids)
    unparsed = sum(not random[i][1] or not tiny[i][1] for i in ids)
    random_better = sum(random[i][0] > tiny[i][0] for i in ids)
    assert unparsed > 0 and wrong > 0  # the tiny model answers nonsense: the filters have something to drop
    vtg = _vtg_outcomes(runs["vtg"])
    vtg_items = len(vtg)
    vtg_wrong = sum(score < 1 for score, _ in vtg.values())
    vtg_unparsed = sum(not parsed for _, parsed in vtg.values())
    qa = _vqa_outcomes(runs["vqa"])
    qa_wrong = sum(score < 1 for score, _ in qa.values())
    qa_unparsed = sum(not parsed for _, parsed in qa.values())
    hid_a_group = []
    for query, expected in (
        ("wrong=1", [wrong, vtg_wrong, qa_wrong]),
        ("unparsed=1", [unparsed, vtg_unparsed, qa_unparsed]),
        ("a=r0&b=r1&cmp=a-better", [random_better, vtg_items, len(qa)]),  # one run only per external file: no A/B
        ("a=r1&b=r0&cmp=a-better", [sum(tiny[i][0] > random[i][0] for i in ids), vtg_items, len(qa)]),
    ):
        dom = Dom(dump_dom(report, query))
        galleries = dom.with_class("gallery")
        shown = [int(e.text) for e in dom.with_class("shown-count")]
        assert len(galleries) == 3 and shown == expected, query
        assert len(dom.visible_items()) == sum(expected)
        # A subtype / category heading is shown exactly when one of its items is.
        visible = dom.visible_items()
        for group in dom.with_class("group"):
            assert ("hidden" in group.classes) == (not any(item.inside(group) for item in visible)), query
        hid_a_group.append(any("hidden" in group.classes for group in dom.with_class("group")))
    assert any(hid_a_group)  # some query emptied a whole subtype, so the heading rule was exercised


def test_a_hostile_response_a_missing_frame_and_an_unparsed_answer_still_render_as_text(browser, runs, bench, tmp_path):
    # A copy of the benchmark whose first record points at a frame that does not exist.
    records = json.loads(Path(bench).read_text())
    records[0]["videos"][0]["video"][3] = str(tmp_path / "gone" / "3.jpg")
    (tmp_path / "bench").mkdir()
    moved = tmp_path / "bench" / "viubench.json"
    moved.write_text(json.dumps(records))
    folder = tmp_path / "hostile"
    shutil.copytree(runs["random"], folder)
    lines = [json.loads(line) for line in (folder / "responses.jsonl").read_text().splitlines()]
    lines[0]["response"] = HOSTILE
    lines[1]["response"] = "I cannot tell."
    (folder / "responses.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    done = _py(
        REPO_ROOT / "eval" / "viubench.py",
        "score",
        "--benchmark",
        str(moved),
        "--responses",
        str(folder / "responses.jsonl"),
    )
    assert done.returncode == 0, done.stderr
    target = tmp_path / "report.html"
    done = _py(REPORT, str(folder), "--output", str(target))
    assert done.returncode == 0, done.stderr
    raw = target.read_text()
    assert HOSTILE not in raw and raw.count("<script>") == 1  # escaped, and only the page's own script
    dom = Dom(dump_dom(target))
    body = next(e for e in dom.elements if e.tag == "body")
    assert body.attrs.get("data-ready") == "1" and "data-pwned" not in body.attrs  # the script ran, the payload did not
    assert not any(e.attrs.get("onerror") for e in dom.elements)
    assert next(e for e in dom.elements if e.tag == "title").text != "pwned"
    assert HOSTILE in "".join(e.text for e in dom.elements if e.tag == "pre")  # shown, verbatim, as text
    assert len(dom.with_class("item")) == 18 and "2 unparsed" in dom.by_id("counts-r0").text
    # The sheet with a missing frame is drawn anyway (a grey "missing" thumbnail in its place).
    assert sum(1 for e in dom.elements if e.tag == "img" and e.attrs.get("src", "").startswith("data:image/jpeg")) == 18
    first = next(e for e in dom.with_class("item") if lines[0]["id"] in e.text)
    assert "unparsed" in first.text
    image = cv2.imread(str(screenshot(target, tmp_path / "hostile.png")))
    assert image is not None and image.std() > 20


def test_galleries_are_a_seeded_sample_of_the_stated_size(runs, tmp_path):
    outputs = []
    for name in ("a.html", "b.html"):
        done = _py(REPORT, str(runs["random"]), "--output", str(tmp_path / name), "--per-group", "1", "--seed", "3")
        assert done.returncode == 0, done.stderr
        outputs.append((tmp_path / name).read_text())
    assert outputs[0] == outputs[1]
    dom = Dom(outputs[0])
    assert len(dom.with_class("item")) == len(subtypes())  # one per subtype
    assert "1 items per subtype" in outputs[0] and "--per-group 1 --seed 3" in outputs[0]
    other = _py(REPORT, str(runs["random"]), "--output", str(tmp_path / "c.html"), "--per-group", "1", "--seed", "4")
    assert other.returncode == 0
    ids = lambda text: sorted(e.attrs["id"] for e in Dom(text).with_class("item"))  # noqa: E731
    assert ids(outputs[0]) != ids((tmp_path / "c.html").read_text())  # 2 items per subtype: another seed, another pick


def test_results_written_before_the_renames_are_read_under_the_new_names(runs, bench, tmp_path):
    from videossr.eval.viubench import LEGACY_SUBTYPES
    from videossr.report.eval_report import load_run

    old_name = {new: old for old, new in LEGACY_SUBTYPES.items()}
    old = tmp_path / "old_run"
    shutil.copytree(runs["random"], old)
    summary = json.loads((old / "summary.json").read_text())
    for counts in ("subtypes", "per_subtype_counts"):
        summary[counts] = {old_name[k]: v for k, v in summary[counts].items()}
    (old / "summary.json").write_text(json.dumps(summary))
    records = json.loads(bench.read_text())  # the benchmark file as it was written: subtype and answer
    for record in records:
        record["subtype"], record["answer"] = old_name[record["subtype"]], record.pop("ground_truth")
    (tmp_path / "old_viubench.json").write_text(json.dumps(records))

    now, then = load_run(runs["random"], "r0"), load_run(old, "r1", benchmark=tmp_path / "old_viubench.json")
    assert then.summary["subtypes"] == now.summary["subtypes"] and list(now.summary["subtypes"]) == list(subtypes())
    assert then.outcomes == now.outcomes


def test_cli_errors_are_one_line(tmp_path):
    done = _py(REPORT, str(tmp_path), "--output", str(tmp_path / "r.html"))
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "no summary.json" in done.stderr
    assert not (tmp_path / "r.html").exists()


@pytest.fixture(scope="module")
def data_dir(frames_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report_data")
    ids = [r["video_id"] for r in load_index(frames_dir)][:4]
    specs = [
        spec_of("grounding/Mirror"),
        spec_of("grounding/Shuffle"),
        spec_of("counting/easy"),
        spec_of("jigsaw/6"),
    ]
    generate_files(frames_dir, out, [(s, ids) for s in specs], GenerationSettings())
    return out


def test_data_report_of_a_folder_shows_its_distributions_and_a_sample_grid(browser, data_dir, tmp_path):
    target = tmp_path / "data.html"
    done = _py(PREVIEW, str(data_dir), "--html", str(target), "--per-group", "2")
    assert done.returncode == 0, done.stderr
    dom = Dom(dump_dom(target))
    assert len(dom.with_class("item")) == 4 * 2 == int(dom.with_class("shown-count")[0].text)  # 4 variants x 2
    plots = [e for e in dom.elements if e.tag == "svg"]
    titles = " ".join(e.text for e in plots)
    for expected in ("segment length", "circles per sample", "jigsaw 6: original clip", "rows per task"):
        assert expected in titles or expected in dom.elements[0].text, expected
    assert "16 rows from 4 file(s)" in dom.elements[0].text
    # The jigsaw heat map counts every clip of every row once: 4 rows x 6 clips, each clip in 4 rows.
    cells = [int(e.text) for e in dom.with_class("heat-cell")]
    assert len(cells) == 36 and sum(cells) == 4 * 6
    assert all(sum(cells[r * 6 : r * 6 + 6]) == 4 for r in range(6))
    image = cv2.imread(str(screenshot(target, tmp_path / "data.png")))
    assert image is not None and image.std() > 20
    single = _py(PREVIEW, str(data_dir / "grounding/mirror.parquet"), "--html", str(tmp_path / "one.html"))
    assert single.returncode == 0 and "4 sample rows" not in single.stdout and "3 sample rows" in single.stdout
