"""The multiple-choice parser against official judged scores, on real model outputs.

TempCompass (https://github.com/llyx97/TempCompass) publishes, for several models, every
multiple-choice answer together with its official rating (an exact-match rule, else an LLM judge):
``auto_eval_results/<model>/multi-choice.json``. This script parses each answer with
``videossr.eval.parsing.parse_option_letter`` (the options read from the question, as
``eval/vqa.py`` does) and prints, per model, our rule-parsed accuracy, the official accuracy, the
gap in points and the item-by-item agreement. It exits non-zero when a gap exceeds ``--max-gap``.

Run:
    # any clone or download of the TempCompass repository
    git clone https://github.com/llyx97/TempCompass /tmp/TempCompass
    .venv/bin/python bench/bench_parsing.py /tmp/TempCompass              # every model it ships
    .venv/bin/python bench/bench_parsing.py /tmp/TempCompass --show reka   # also list the disagreements
    .venv/bin/python bench/bench_parsing.py --smoke    # 4 items in its format: a check, not a measurement
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from videossr.eval.parsing import parse_option_letter, parse_options  # noqa: E402


def judged_items(path: Path):
    """(question, gold letter, response, official rating 0/1) of one ``multi-choice.json``."""
    for dimensions in json.loads(path.read_text(encoding="utf-8")).values():
        for items in dimensions.values():
            for item in items:
                yield item["question"], item["gt-answer"].strip()[0], item["video-llm-prediction"], int(item["rating"])


def compare(path: Path) -> dict:
    """Rule-parsed vs judged accuracy (percent) of one model's answers, and the disagreements."""
    total = ours = official = 0
    disagreements = []
    for question, gold, response, rating in judged_items(path):
        options = parse_options(question)
        letter = parse_option_letter(response, "".join(options), options)
        total += 1
        ours += letter == gold
        official += rating
        if (letter == gold) != bool(rating):
            disagreements.append({"gold": gold, "parsed": letter, "rating": rating, "response": response})
    return {
        "items": total,
        "ours": 100 * ours / total,
        "official": 100 * official / total,
        "agreement": 100 * (total - len(disagreements)) / total,
        "disagreements": disagreements,
    }


def write_smoke_folder(root: Path) -> Path:
    """A TempCompass-shaped folder with one model and four judged answers (for ``--smoke``)."""
    question = "What is the man doing?\nA. dunking a basketball\nB. dribbling a basketball\nC. passing a basketball"
    answers = [
        ("A. dunking a basketball", "A. dunking a basketball.", 1),
        ("B. dribbling a basketball", "The man is dribbling the basketball.", 1),
        ("C. passing a basketball", "B and C", 0),
        ("A. dunking a basketball", "I cannot tell.", 0),
    ]
    items = [
        {"question": question, "gt-answer": gold, "video-llm-prediction": response, "rating": rating}
        for gold, response, rating in answers
    ]
    path = root / "auto_eval_results" / "smoke-model" / "multi-choice.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"video0": {"action": items}}), encoding="utf-8")
    return root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("tempcompass", type=Path, nargs="?", help="a clone of the TempCompass repository")
    parser.add_argument("--smoke", action="store_true", help="run on a 4-item synthetic file instead")
    parser.add_argument("--max-gap", type=float, default=1.0, help="largest |ours - official| in points (1.0)")
    parser.add_argument("--show", default="", help="list the disagreements of the models whose name contains this")
    args = parser.parse_args(argv)
    if args.smoke:
        with tempfile.TemporaryDirectory(prefix="bench-parsing-smoke-") as folder:
            return run(parser, args, write_smoke_folder(Path(folder)))
    if args.tempcompass is None:
        parser.error("name a TempCompass clone (or --smoke)")
    return run(parser, args, args.tempcompass)


def run(parser: argparse.ArgumentParser, args: argparse.Namespace, tempcompass: Path) -> int:
    files = sorted((tempcompass / "auto_eval_results").glob("*/multi-choice.json"))
    if not files:
        parser.error(f"no auto_eval_results/*/multi-choice.json under {tempcompass}")
    worst = 0.0
    print(f"{'model':<24} {'items':>5} {'ours':>6} {'official':>8} {'gap':>5} {'agree %':>7}")
    for path in files:
        model = path.parent.name
        result = compare(path)
        gap = result["ours"] - result["official"]
        worst = max(worst, abs(gap))
        print(
            f"{model:<24} {result['items']:>5} {result['ours']:>6.2f} {result['official']:>8.2f}"
            f" {gap:>+5.2f} {result['agreement']:>7.2f}"
        )
        if args.show and args.show in model:
            for case in result["disagreements"]:
                print(f"  gold {case['gold']} parsed {case['parsed']} judged {case['rating']}: {case['response']!r}")
    verdict = "ok" if worst <= args.max_gap else "FAIL"
    print(f"largest gap {worst:.2f} points (bound {args.max_gap}): {verdict}")
    return 0 if verdict == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
