"""Thin ipywidgets views over the pure core: every decision lives in `ftwidgets`, not here.

Each widget has defaults that work with no clicks (headless runs under nbval or
papermill pass), and its behaviour is reachable from Python (`button.click()`,
setting `.value`), which is how the tests drive them.
"""

from .ab_review import ABReview
from .chat_compare import ChatCompare
from .comparison_view import ComparisonView
from .data_import import DataImport
from .dataset_report import DatasetReport
from .download import DownloadButton
from .drop_flagged import DropFlagged
from .grader_setup import GraderSetup
from .hyperparameter_panel import HyperparameterPanel
from .job_monitor import JobMonitor
from .keyboard import KeyboardShortcuts
from .progress import ProgressBar
from .review_summary import ReviewSummaryView
from .search_progress import SearchProgress
from .split_view import SplitView
from .trained_tokens import TrainedTokens
from .validation_table import ValidationTable
from .worth_it_view import WorthItView

__all__ = [
    "ABReview",
    "ChatCompare",
    "ComparisonView",
    "DataImport",
    "DatasetReport",
    "DownloadButton",
    "DropFlagged",
    "GraderSetup",
    "HyperparameterPanel",
    "JobMonitor",
    "KeyboardShortcuts",
    "ProgressBar",
    "ReviewSummaryView",
    "SearchProgress",
    "SplitView",
    "TrainedTokens",
    "ValidationTable",
    "WorthItView",
]
