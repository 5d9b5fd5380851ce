"""The figures the benchmarks print: percentiles by nearest rank, and the slowest changes with their stages."""

from __future__ import annotations

from loadtest.bench import print_slowest
from loadtest.probe import percentile


def test_p99_of_a_hundred_changes_is_the_second_slowest_not_the_slowest():
    changes = [float(ms) for ms in range(1, 101)]
    assert percentile(changes, 0.99) == 99.0
    assert percentile(changes, 0.5) == 50.0
    assert percentile(changes, 1.0) == 100.0
    assert percentile(list(range(1, 301)), 0.99) == 297  # the fourth-slowest of 300
    assert percentile([7.0], 0.99) == 7.0


def test_no_samples_give_no_figure():
    assert percentile([], 0.99) != percentile([], 0.99)  # NaN: printed as nan, never as a figure


def test_the_slowest_changes_are_printed_with_their_stages(capsys):
    totals = [40.0, 310.0, 45.0, 120.0]
    spans = [
        (1.0, 2.0, 20.0, 17.0),
        (1.0, 280.0, 15.0, 14.0),
        (1.0, 3.0, 21.0, 20.0),
        (2.0, 3.0, 100.0, 15.0),
    ]
    print_slowest(totals, spans, ["commit -> answered (enqueue)", "to publish (job)"] + ["a", "b"], n=2)
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "  slow change #1: 310.0 ms (commit -> answered 1.0, to publish 280.0, a 15.0, b 14.0)",
        "  slow change #3: 120.0 ms (commit -> answered 2.0, to publish 3.0, a 100.0, b 15.0)",
    ]
