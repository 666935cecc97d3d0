"""Result-file parsing: AQuA CSV text (written from the reference spec) to typed Arrow batches."""

from __future__ import annotations

import gzip
from datetime import date, datetime
from decimal import Decimal

import pyarrow as pa
import pytest

from zuora_assets.zuora.errors import ZuoraCutFileError, ZuoraDataError
from zuora_assets.zuora.results import read_result_file
from zuora_assets_tests.results_support import HEADER, SCHEMA
from zuora_assets_tests.results_support import spec as _spec


def _read(tmp_path, text: str | bytes, spec=None, gz=False, **kw) -> pa.Table:
    data = text.encode() if isinstance(text, str) else text
    path = tmp_path / "f.csv"
    path.write_bytes(gzip.compress(data) if gz else data)
    batches = list(read_result_file(spec or _spec(), path, **kw))
    assert all(b.schema == SCHEMA for b in batches)
    return pa.Table.from_batches(batches, SCHEMA)


def test_types_nulls_and_quoting(tmp_path):
    t = _read(
        tmp_path,
        HEADER
        + '1,2026-11-03T10:11:12+0000,12345678901234567890.123456789,42,true,2026-12-01,"a, ""quoted""\nline",EU,false\n'
        + "2,,,,,,,,true\n",
    )
    row, empty = t.to_pylist()
    assert row == {
        "id": "1",
        "updated_date": datetime(2026, 11, 3, 10, 11, 12),
        "amount": Decimal("12345678901234567890.123456789"),
        "count": 42,
        "active": True,
        "due_date": date(2026, 12, 1),
        "notes": 'a, "quoted"\nline',
        "region__c": "EU",
        "_deleted": False,
    }
    assert empty == {**{k: None for k in row}, "id": "2", "_deleted": True}


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2026-08-04T20:11:15+1000", datetime(2026, 8, 4, 10, 11, 15)),
        ("2026-08-04T20:11:15+10:00", datetime(2026, 8, 4, 10, 11, 15)),
        ("2026-08-04T20:11:15-0800", datetime(2026, 8, 5, 4, 11, 15)),
        ("2026-08-04T20:11:15Z", datetime(2026, 8, 4, 20, 11, 15)),
        ("2026-08-04T20:11:15.123Z", datetime(2026, 8, 4, 20, 11, 15, 123000)),
        ("2026-08-04T20:11:15.123456+0000", datetime(2026, 8, 4, 20, 11, 15, 123000)),
        ("2026-01-15", datetime(2026, 1, 15, 8)),  # bare date = midnight Pacific (PST, UTC-8)
        ("2026-07-15", datetime(2026, 7, 15, 7)),
    ],  # (PDT, UTC-7)
)
def test_datetime_forms_become_utc(tmp_path, text, utc):
    t = _read(tmp_path, HEADER + f"1,{text},1,1,false,2026-01-01,,,false\n")
    assert t.column("updated_date").to_pylist() == [utc]


def test_decimal_is_exact_and_never_a_float(tmp_path):
    t = _read(
        tmp_path,
        HEADER
        + "1,2026-01-01T00:00:00Z,0.1,1,true,,,,false\n2,2026-01-01T00:00:00Z,-11095,1,TRUE,,,,false\n",
    )
    assert t.column("amount").to_pylist() == [Decimal("0.1"), Decimal("-11095")]
    assert t.schema.field("amount").type == pa.decimal128(38, 9)


def test_header_is_matched_by_name_case_insensitively_and_extra_columns_ignored(tmp_path):
    header = "THING.id,Thing.Extra,Thing.updateddate,Thing.Amount,Thing.Count,Thing.Active,Thing.DueDate,Thing.Notes,Thing.Region__c,Thing.IsDeleted\n"
    t = _read(tmp_path, header + "1,zzz,2026-01-01T00:00:00Z,1,1,true,,,,false\n")
    assert t.column("id").to_pylist() == ["1"] and t.column("amount").to_pylist() == [Decimal(1)]


def test_fields_not_queried_are_null_columns_and_no_deleted_column_means_false(tmp_path):
    spec = _spec(queried=("Id", "UpdatedDate", "Amount", "Count", "Active", "DueDate", "Notes"), deleted=None)
    header = "Thing.Id,Thing.UpdatedDate,Thing.Amount,Thing.Count,Thing.Active,Thing.DueDate,Thing.Notes\n"
    t = _read(tmp_path, header + "1,2026-01-01T00:00:00Z,1,1,true,,x\n", spec)
    assert t.column("region__c").to_pylist() == [None] and t.column("_deleted").to_pylist() == [False]


def test_missing_column_names_field_and_hints_labels(tmp_path):
    with pytest.raises(ZuoraDataError, match="no column for Region__c"):
        _read(tmp_path, HEADER.replace("Thing.Region__c,", "") + "1,2026-01-01T00:00:00Z,1,1,true,,,false\n")
    with pytest.raises(ZuoraDataError, match="useQueryLabels"):
        _read(tmp_path, "Thing: Id,Thing: Updated Date\n1,2\n")


def test_non_rectangular_row_names_model_window_and_line(tmp_path):
    rows = '1,2026-01-01T00:00:00Z,1,1,true,,"two\nlines",,false\n2,2026-01-01T00:00:00Z,1,1,true,,,false\n'
    with pytest.raises(ZuoraDataError) as err:
        _read(tmp_path, HEADER + rows)
    message = str(err.value)
    assert "model thing, window [a, b)" in message and "CSV line 4" in message and "9 columns" in message


def test_malformed_row_deep_in_file_is_reported_after_earlier_batches(tmp_path):
    good = "".join(f"{i},2026-01-01T00:00:00Z,1,1,true,,,,false\n" for i in range(2000))
    path = tmp_path / "f.csv"
    path.write_text(HEADER + good + "x,y\n")
    batches = read_result_file(_spec(), path, block_size=4096)
    with pytest.raises(ZuoraDataError, match="CSV line 2002"):
        for _ in batches:
            pass


def test_nul_byte_is_an_error_with_its_line(tmp_path):
    with pytest.raises(ZuoraDataError, match="CSV line 3 contains a NUL byte"):
        _read(
            tmp_path,
            HEADER
            + "1,2026-01-01T00:00:00Z,1,1,true,,,,false\n2,2026-01-01T00:00:00Z,1,1,true,,a\x00b,,false\n",
        )


def test_bad_value_names_field_and_row(tmp_path):
    with pytest.raises(
        ZuoraDataError, match=r"field Amount, data row 2: '0.0000000001' is not a valid decimal"
    ):
        _read(
            tmp_path,
            HEADER
            + "1,2026-01-01T00:00:00Z,1,1,true,,,,false\n2,2026-01-01T00:00:00Z,0.0000000001,1,true,,,,false\n",
        )
    with pytest.raises(ZuoraDataError, match="field Count, data row 1: 'many'"):
        _read(tmp_path, HEADER + "1,2026-01-01T00:00:00Z,1,many,true,,,,false\n")


def test_gzip_empty_and_header_only_files(tmp_path):
    assert _read(tmp_path, HEADER + "1,2026-01-01T00:00:00Z,1,1,true,,,,false\n", gz=True).num_rows == 1
    assert _read(tmp_path, "").num_rows == 0
    assert _read(tmp_path, HEADER).num_rows == 0


def test_many_small_batches_each_with_exact_schema(tmp_path):
    rows = "".join(
        f"{i},2026-01-01T00:00:{i % 60:02d}Z,{i}.5,{i},true,2026-01-02,n{i},r,false\n" for i in range(3000)
    )
    t = _read(tmp_path, HEADER + rows, block_size=8192)
    assert t.num_rows == 3000 and len(t.to_batches()) > 5
    assert t.column("amount")[2999].as_py() == Decimal("2999.5")


@pytest.mark.parametrize("gz", [False, True], ids=["csv", "gzip"])
def test_a_file_cut_inside_its_last_value_is_a_cut_file_even_when_every_row_parses(tmp_path, gz):
    header = HEADER.replace(",Thing.IsDeleted", "")  # the last column is text: any cut of it still parses
    whole = header + "".join(f"{i},2026-01-01T00:00:00Z,1,1,true,,,region {i}\n" for i in range(500))
    cut = whole[: whole.rindex("region 499") + len("regi")]
    path = tmp_path / "f.csv"
    path.write_bytes(gzip.compress(whole.encode())[:-40] if gz else cut.encode())  # gzip: its stream is cut
    with pytest.raises(ZuoraCutFileError, match="model thing, window \\[a, b\\): the CSV ends in the middle of a row"):
        for _ in read_result_file(_spec(deleted=None), path):
            pass
