"""Fine-Tuning Workbook: from raw examples to a fine-tuned chat model, measured and reviewed."""

__version__ = "0.1.0"
