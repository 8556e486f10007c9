"""bench/cold_start.py's bookkeeping: per-phase medians and the -X importtime split (no timing)."""
from __future__ import annotations

from bench.cold_start import FIRST_USE_MARK, import_phases, summarize

IMPORTTIME = f"""import time: self [us] | cumulative | imported package
import time:       500 |        500 |   json.decoder
import time:       200 |        700 | json
import time:      3000 |      40000 | aws_lambda_powertools
some other stderr line
{FIRST_USE_MARK}
import time:    100000 |     150000 | boto3
import time:      9000 |       9000 |       deep.module
"""


def test_handler_rows_carry_first_use_and_cold_total_beside_the_headline():
    samples = [
        {"import_ms": 80.0, "init_ms": 1.0, "first_use_ms": 200.0},
        {"import_ms": 90.0, "init_ms": 3.0, "first_use_ms": 150.0},
        {"import_ms": 100.0, "init_ms": 2.0, "first_use_ms": 170.0},
    ]
    row = summarize("api_handler", samples)
    assert row["runs"] == 3 and row["import_ms"] == 90.0 and row["init_ms"] == 2.0
    assert row["total_ms"] == 93.0 and row["total_ms_min"] == 81.0  # import + init: the headline
    assert row["first_use_ms"] == 170.0
    assert row["cold_ms"] == 272.0  # median of the per-run sums, not the sum of medians


def test_the_floor_has_no_first_use():
    row = summarize("floor", [{"import_ms": 150.0, "init_ms": 60.0, "first_use_ms": 0.0}])
    assert row["total_ms"] == 210.0 and "first_use_ms" not in row and "cold_ms" not in row


def test_importtime_is_split_at_the_first_use_mark():
    phases = import_phases(IMPORTTIME)
    assert [r["module"] for r in phases["heaviest_imports"]] == ["aws_lambda_powertools", "json", "json.decoder"]
    assert phases["heaviest_imports"][0]["cumulative_ms"] == 40.0
    # Nesting deeper than one level is left out (it is inside a module already listed).
    assert [r["module"] for r in phases["heaviest_first_use_imports"]] == ["boto3"]


def test_without_a_mark_everything_is_import_time():
    phases = import_phases(IMPORTTIME.split(FIRST_USE_MARK)[0])
    assert len(phases["heaviest_imports"]) == 3 and phases["heaviest_first_use_imports"] == []
