"""Every CSV export writes cells a spreadsheet shows and never runs."""

import io

from shequn.kit.spreadsheet import csv_cell, write_csv


def test_a_nickname_that_starts_a_formula_is_written_as_text_and_numbers_stay_numbers() -> None:
    assert csv_cell('=HYPERLINK("http://x.example")') == "'=HYPERLINK(\"http://x.example\")"
    assert csv_cell("@SUM(A1)") == "'@SUM(A1)"
    assert csv_cell("-50.00") == "-50.00"
    assert csv_cell(0.3333) == 0.3333
    assert csv_cell(None) == ""


def test_rows_are_written_in_the_columns_order_with_missing_values_empty() -> None:
    out = io.StringIO()
    write_csv(out, ["member", "gmv", "note"], [{"gmv": "600.00", "member": "u1"}])
    assert out.getvalue() == "member,gmv,note\nu1,600.00,\n"
