"""`capswriter bench text`: the figures it prints are measured on the real text stage."""

from __future__ import annotations

from capswriter.tools.bench_text import (
    GUARDS,
    MISHEARINGS,
    bench_hot_words,
    bench_itn,
    guard_study,
    references,
)


def test_hot_words_and_itn_are_timed_over_every_sentence() -> None:
    cost = bench_hot_words(300, ["付平今天来了", "他很慌张"], rounds=2)
    timing = cost.sentence
    assert cost.load_s > 0 and cost.load_cpu_s > 0
    assert timing.samples == cost.sentence_cpu.samples == 4
    assert 0 < timing.p50_ms <= timing.p95_ms
    assert bench_itn(["二十个"], rounds=3).samples == 3


def test_the_guard_study_compares_every_guard_on_the_same_names() -> None:
    rows = guard_study(names_per_length=15, ordinary=150)
    assert [row.guard for row in rows] == list(GUARDS)
    none, exact, _ = rows
    assert set(none.recall) == set(MISHEARINGS)
    # Exact tones cost the wrong-tone cases of short names and nothing else.
    assert exact.recall["homophone"] == none.recall["homophone"] > 0.9
    assert exact.recall["wrong tone"] < none.recall["wrong tone"]
    assert exact.false_rewrites <= none.false_rewrites


def test_references_are_the_chinese_rows_of_a_manifest(tmp_path) -> None:
    (tmp_path / "manifest.tsv").write_text(
        "file\tlanguage\treference_text\na.wav\tzh\t你好\nb.wav\ten\thello\n", encoding="utf-8")
    assert references(tmp_path) == ["你好"]
