"""Reading a CRM's customer export: columns, notations, line numbers, every rejection reason."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ringback.domain.customers import (
    COLUMNS,
    CsvFormatError,
    decode_export,
    parse_amount,
    parse_export,
)

pytestmark = pytest.mark.unit

HEADER = ",".join(COLUMNS)
DEMO = Path(__file__).resolve().parents[2] / "devstack" / "demo" / "customers.csv"


def parse(text: str) -> object:
    return parse_export(text, default_region="CZ")


def test_demo_file_is_clean_and_has_what_the_demo_needs() -> None:
    result = parse_export(DEMO.read_text(encoding="utf-8"), default_region="CZ")
    assert result.rejections == []
    assert len(result.customers) >= 5
    assert any(c.debt for c in result.customers)
    assert any(not c.debt for c in result.customers)
    assert any(len(c.phones) >= 2 for c in result.customers)
    assert all(p.startswith("+420") or p.startswith("+421") for c in result.customers for p in c.phones)


def test_full_row_and_derived_debt() -> None:
    text = (
        "customer_id,name,phones,debt_amount,debt_currency,debt_as_of,segment,priority,agent_extension,"
        "bucket_id,language\n"
        'C1,"Novák, Jan",+420 777 666 555|00420 602 123 456,"1 234,50",czk,31.10.2026,vip,10,1005,7,CS-cz\n'
        "C2,Eva,777111222,0,CZK,2026-10-31,,,,,\n"
    )
    result = parse_export(text, default_region="CZ")
    assert result.rejections == []
    c1, c2 = result.customers
    assert c1.name == "Novák, Jan"
    assert c1.phones == ("+420777666555", "+420602123456")
    assert (c1.debt, c1.debt_amount, c1.debt_currency) == (True, Decimal("1234.50"), "CZK")
    assert c1.debt_as_of == date(2026, 10, 31)
    assert (c1.segment, c1.priority, c1.agent_extension, c1.bucket_id, c1.language) == (
        "vip",
        10,
        "1005",
        "7",
        "cs-CZ",
    )
    assert (c2.debt, c2.priority, c2.segment) == (False, 0, None)
    assert [e.e164 for e in c1.entries()] == ["+420777666555", "+420602123456"]
    assert c1.entries()[0].debt_amount == "1234.50"


def test_explicit_debt_flag_wins_over_the_amount() -> None:
    text = "customer_id,phones,debt,debt_amount\nC1,777666555,ne,500\nC2,777666556,ano,\nC3,777666557,,12\n"
    debts = [c.debt for c in parse_export(text, default_region="CZ").customers]
    assert debts == [False, True, True]


def test_semicolon_file_with_bom_aliases_and_czech_amounts() -> None:
    text = "\ufeffID;Phone;Amount;Currency;Lang\nC1;+420 777 666 555, 602 123 456;1.234,50;CZK;cs\n"
    result = parse_export(text, default_region="CZ")
    assert result.delimiter == ";"
    assert result.rejections == []
    (customer,) = result.customers
    assert customer.phones == ("+420777666555", "+420602123456")
    assert customer.debt_amount == Decimal("1234.50")


def test_every_bad_row_is_reported_with_its_line_and_reasons_and_the_rest_imported() -> None:
    text = (
        "\n".join(
            [
                "customer_id,name,phones,debt_amount,debt_currency,debt_as_of,segment,priority,agent_extension,"
                "bucket_id,language",  # line 1
                "C1,Ok,777666555,,,,,,,,",  # 2 ok
                ",No id,777666556,,,,,,,,",  # 3 missing id
                "C3,No phone,,,,,,,,,",  # 4 no phone
                "C4,Bad phone,12345,,,,,,,,",  # 5 invalid number
                "C5,Bad values,777666558,abc,EURO,32.13.2026,,x,1 2,0,english",  # 6 many problems
                "",  # 7 blank: skipped silently
                "C1,Duplicate id,777666559,,,,,,,,",  # 8 repeated id
                "C8,Shared phone,+420 777 666 555,,,,,,,,",  # 9 number already C1's
                '"C9","Multi',  # 10 quoted value spanning lines
                'line",777666560,,,,,,,,',  # 11
                "C10,Too many,777666561,,,,,,,,,extra",  # 12 shifted columns
                "C11,Ok too,777666562,,,,,,,,",  # 13 ok
            ]
        )
        + "\n"
    )
    result = parse_export(text, default_region="CZ")
    assert [c.customer_id for c in result.customers] == ["C1", "C9", "C11"]
    by_line = {r.line: r for r in result.rejections}
    assert sorted(by_line) == [3, 4, 5, 6, 8, 9, 12]
    assert by_line[3].fields == ("customer_id",)
    assert "at least one phone number" in by_line[4].reason
    assert "number #1 is not valid" in by_line[5].reason
    assert set(by_line[6].fields) == {
        "debt_amount",
        "debt_currency",
        "debt_as_of",
        "priority",
        "agent_extension",
        "bucket_id",
        "language",
    }
    assert "line 2" in by_line[8].reason
    assert "belongs to customer C1 (line 2)" in by_line[9].reason
    assert "12 fields but the header has 11" in by_line[12].reason
    assert result.rows == 10
    # The report never repeats a phone number.
    assert all("777" not in r.reason for r in result.rejections)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("\n\n", "empty"),
        ("name,debt\nJan,1\n", "customer_id, phones"),
        ("customer_id,phones,Phone\nC1,777666555,777666555\n", "appears twice"),
    ],
)
def test_unusable_files_are_refused_as_a_whole(text: str, message: str) -> None:
    with pytest.raises(CsvFormatError, match=message):
        parse_export(text, default_region="CZ")


def test_unknown_columns_are_ignored_and_reported() -> None:
    result = parse_export("customer_id,phones,email,Notes\nC1,777666555,a@b.cz,x\n", default_region="CZ")
    assert result.ignored_columns == ("email", "Notes")
    assert len(result.customers) == 1


def test_windows_1250_files_are_read() -> None:
    data = "customer_id,name,phones\nC1,Tomáš Černý,777666555\n".encode("cp1250")
    text, encoding = decode_export(data)
    assert encoding == "cp1250"
    assert parse_export(text, default_region="CZ").customers[0].name == "Tomáš Černý"
    assert decode_export(b"x")[1] == "utf-8"


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("1234.50", "1234.50"),
        ("1 234,50", "1234.50"),
        ("1.234,50", "1234.50"),
        ("1,234.50", "1234.50"),
        ("-20", "-20"),
        ("0", "0"),
        ("", None),
        ("1\u00a0000", "1000"),
    ],
)
def test_amount_notations(raw: str, value: str | None) -> None:
    parsed = parse_amount(raw)
    assert (None if parsed is None else format(parsed, "f")) == value


@pytest.mark.parametrize("raw", ["abc", "NaN", "Infinity", "1.2.3,4,5"])
def test_bad_amounts(raw: str) -> None:
    with pytest.raises(ValueError, match="number"):
        parse_amount(raw)


cell = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=30)


@given(rows=st.lists(st.lists(cell, min_size=0, max_size=14), max_size=25))
@settings(max_examples=200, deadline=None)
def test_any_content_is_either_imported_or_rejected_with_a_line(rows: list[list[str]]) -> None:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    text = buffer.getvalue()
    result = parse_export(text, default_region="CZ")
    non_blank = sum(1 for r in rows if any(c.strip() for c in r))
    # Every non-blank row is accounted for exactly once.
    assert len(result.customers) + len(result.rejections) == non_blank == result.rows
    lines = [r.line for r in result.rejections]
    assert len(lines) == len(set(lines))
    total_lines = len(io.StringIO(text, newline="").readlines())  # \n, \r and \r\n end lines
    assert all(2 <= line <= total_lines for line in lines)
    phones = [p for c in result.customers for p in c.phones]
    assert len(phones) == len(set(phones))  # a number maps to one customer
    ids = [c.customer_id for c in result.customers]
    assert len(ids) == len(set(ids))


@given(order=st.permutations(list(range(6))))
@settings(max_examples=30, deadline=None)
def test_column_order_does_not_matter(order: list[int]) -> None:
    columns = ["customer_id", "phones", "debt_amount", "segment", "priority", "language"]
    values = ["C1", "777666555", "12.5", "vip", "4", "cs"]
    header = ",".join(columns[i] for i in order)
    row = ",".join(values[i] for i in order)
    (customer,) = parse_export(f"{header}\n{row}\n", default_region="CZ").customers
    assert (
        customer.customer_id,
        customer.phones,
        customer.debt,
        customer.segment,
        customer.priority,
        customer.language,
    ) == ("C1", ("+420777666555",), True, "vip", 4, "cs")
