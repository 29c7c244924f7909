"""Offline HTML reports: results of evaluation runs (:mod:`.eval_report`) and data files
(:mod:`.data_report`), built from :mod:`.html`'s escaped pieces and inline SVG plots."""
