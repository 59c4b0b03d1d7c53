"""Chapter 6's sentences on the laptop recipes: one per choice, each number from the
search log, and a difference within its noise read as a tie."""

import re

from recipe import CHOICES, reading, recipe_sentences
from search_log import comparisons, muon_sentences, timed_choice_sentences

from vit_core.records import load_result

POINTS = re.compile(r"[+-]\d+\.\d\d points")
SIGNED = re.compile(r"[+-]\d+\.\d\d\b")


def test_a_difference_within_the_noise_is_a_tie_whatever_its_sign():
    assert reading([(0.7, 1.8)]) == "a tie"
    assert reading([(-0.7, 1.8)]) == "a tie"
    assert reading([(0.7, 1.8), (0.6, 1.8)]) == "a tie at each, though ahead at both"
    assert reading([(-0.7, 1.8), (-0.6, 1.8)]).startswith("a tie at each")
    assert reading([(0.7, 1.8), (-0.6, 1.8)]) == "a tie"
    assert reading([(6.0, 2.0), (11.0, 2.0)]) == "ahead beyond the noise at both"
    assert reading([(-3.0, 2.0)]) == "behind beyond the noise"
    assert reading([(3.0, 2.0), (1.0, 2.0), (3.0, 2.0)]) == "beyond the noise at 2 of 3"


def test_each_choice_has_its_sentence_from_the_log():
    log = load_result("cpu_experiments.jsonl")
    sentences = recipe_sentences(log)
    assert tuple(sentences) == CHOICES
    for choice, sentence in sentences.items():
        assert "not measured" not in sentence, choice
        assert POINTS.search(sentence) and "noise ±" in sentence, sentence


def test_the_numbers_are_the_ones_the_appendix_renders():
    log = load_result("cpu_experiments.jsonl")
    sentences = recipe_sentences(log)
    appendix = "\n".join(muon_sentences(comparisons(log)) + timed_choice_sentences(log))
    for choice in ("Muon", "batch size", "crops", "AutoAugment", "compile"):
        gains = SIGNED.findall(sentences[choice])
        assert gains, choice
        for gain in gains:
            assert f"({gain} points)" in appendix, (choice, gain)


def test_gains_under_the_noise_are_not_called_wins():
    sentences = recipe_sentences(load_result("cpu_experiments.jsonl"))
    for choice in ("batch size", "AutoAugment"):
        assert "a tie" in sentences[choice] and "beyond" not in sentences[choice]


def test_a_missing_log_says_so():
    for choice, sentence in recipe_sentences([]).items():
        assert sentence.endswith("not measured yet."), choice


def test_the_appendix_has_a_row_for_every_pair():
    from recipe import pair_rows
    from search_log import lone_changes, timed_pairs

    log = load_result("cpu_experiments.jsonl")
    rows = pair_rows(log)
    assert len(rows) == len(timed_pairs(log)) + len(lone_changes(log))
    ema = next(r for r in rows if r["change"] == "ema True")
    assert ema["verdict"] == "behind beyond the noise"  # the pair lost by 18 points
    for row in rows:
        points = float(row["gain"].split()[0])
        ahead = float(row["changed"][:-1]) - float(row["preset's side"][:-1])
        assert abs(points - ahead) < 0.011, row  # the gain is the two sides' difference
