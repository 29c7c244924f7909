"""Lenient answer parsing for external benchmarks: an alias of :mod:`videossr.eval.parsing`.

The parsers moved to the evaluation core; this module keeps the old import path working. The
training rewards do not use it (they keep their exact released formats).
"""

from videossr.eval.parsing import answer_region, parse_clock, parse_option_letter, parse_options, parse_time_span

__all__ = ["answer_region", "parse_clock", "parse_option_letter", "parse_options", "parse_time_span"]
