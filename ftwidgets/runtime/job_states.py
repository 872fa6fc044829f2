"""The states of a fine-tuning job, as OpenAI names them: one definition for the engine and the workbook.

validating_files -> queued -> running -> succeeded | failed | cancelled
"""

ACTIVE = ("validating_files", "queued", "running")
FINAL = ("succeeded", "failed", "cancelled")
