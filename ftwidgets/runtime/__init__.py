"""The plumbing every stage stands on: files a crash never leaves half-written (`safe_files`), a full disk said as
one (`disk`), the machine (`machine`) and a session's memory (`memory`), a notebook kernel's set-up
(`notebook_kernel`, `plain_errors`), a job's states (`job_states`), where the workbook's folder is (`locations`).
It imports nothing above it."""

from .lazy import exports

__getattr__, __all__ = exports(
    __name__,
    {
        "disk": ["DiskFull"],
        "job_states": ["ACTIVE", "FINAL"],
        "machine": ["cuda_available", "memory_limit_bytes"],
    },
)
