"""CSV for spreadsheets: one writer for every export, so the CLI and the dashboard agree."""

import csv
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TextIO

# Text a spreadsheet would run as a formula: members choose their own nicknames.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A plain number ("-50.00") is a value, not a formula, and stays as it is.
NUMBER = re.compile(r"-?\d+(\.\d+)?")


def csv_cell(value: object) -> object:
    """None as empty; text that would start a formula gets a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not NUMBER.fullmatch(value):
        return "'" + value
    return value


def write_csv(out: TextIO, columns: Sequence[str], rows: Iterable[Mapping[str, object]]) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([csv_cell(row.get(column)) for column in columns] for row in rows)
