"""The Results page's first table: a row per headline, read from the result files, and
"not measured yet" where a file is absent."""

import headlines

from vit_core.records import load_result


def test_each_record_row_is_its_file():
    rows = {r["headline"]: r for r in headlines.headline_rows()}
    for name, headline in headlines.RECORDS.items():
        record = load_result(name)
        row = rows[headline]
        assert row["result"].startswith(f"{record['test_accuracy']:.2%} "), row
        assert record["model"] in row["result"]
        assert row["machine"] == headlines.short(record["device"])
        met = record["test_accuracy"] >= headlines.GOALS[name]
        assert row["goal"].endswith("reached") and ("not" in row["goal"]) != met
    others = {"ablation ladder", "ViT against CNN", "speed benchmarks", "GPU runs"}
    assert others <= set(rows)


def test_a_missing_file_reads_not_measured(monkeypatch):
    monkeypatch.setattr(headlines, "load_result", lambda name: None)
    monkeypatch.setattr(headlines, "RESULTS_DIR", headlines.RESULTS_DIR / "absent")
    for row in headlines.headline_rows():
        assert row["result"].startswith("not measured yet"), row


def test_the_table_is_html_with_every_headline():
    table = headlines.headline_table()
    assert table.count("<tr>") == 1 + len(headlines.headline_rows())
