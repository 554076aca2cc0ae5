"""The summary `python -m bench` ends with: every figure against its target, exit 1 naming those that missed."""

from __future__ import annotations

from bench import figures


def test_the_summary_names_a_missed_figure_and_fails(tmp_path, monkeypatch, capsys):
    path = tmp_path / "figures.jsonl"
    monkeypatch.setenv(figures.ENV, str(path))
    figures.record("review", "queue p95", "31.0 ms", "<= 50 ms", True)
    figures.record("review", "search p95", "56.9 ms", "<= 50 ms", False)
    figures.record("completion", "old way", "42.8 s")

    assert figures.summary(figures.read(path), {"review": 1, "completion": 0}) == 1

    out = capsys.readouterr().out
    assert "search p95" in out and "MISSED" in out and "queue p95" in out and "old way" in out
    assert "1 figure(s) missed their target: review: search p95. Exit status 1." in out


def test_a_benchmark_that_failed_without_a_missed_figure_still_fails_the_summary(tmp_path, capsys):
    assert figures.summary([], {"audit": 2}) == 1
    assert "audit" in capsys.readouterr().out


def test_every_figure_on_target_passes(tmp_path, monkeypatch, capsys):
    path = tmp_path / "figures.jsonl"
    monkeypatch.setenv(figures.ENV, str(path))
    figures.record("admin", "threshold preview p95", "120 ms", "<= 200 ms", True)

    assert figures.summary(figures.read(path), {"admin": 0}) == 0
    assert "Every figure met its target." in capsys.readouterr().out


def test_recording_outside_python_m_bench_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv(figures.ENV, raising=False)
    figures.record("admin", "threshold preview p95", "120 ms", "<= 200 ms", True)
    assert list(tmp_path.iterdir()) == []
