"""The HTML report of a run (``eval/report.html``): the run's numbers next to the paper's, failure
analyses, contact sheets and the facts of the run, in one file a browser opens with no server.

``write_html_report`` is the entry point the ``eval`` stage calls; the modules below it each do one
job: :mod:`.analysis` (numbers from files), :mod:`.figures` (charts and contact sheets),
:mod:`.results` and :mod:`.run_sections` (HTML of the sections), :mod:`.html` (markup),
:mod:`.paper` (the published figures), :mod:`.run_info` (stages, versions, config).
"""
from .build import write_html_report

__all__ = ["write_html_report"]
