import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mia.text.words import word_scores, word_spans, words_of


def test_regex_words_are_letter_digit_runs_and_single_punctuation():
    text = "Don't stop—it's 3.5 km_h now!!"
    assert words_of(text, word_spans(text)) == [
        "Don", "'", "t", "stop", "—", "it", "'", "s", "3", ".", "5", "km", "_", "h", "now", "!", "!"]


def test_whitespace_words():
    text = " Don't  stop , now "
    assert words_of(text, word_spans(text, "whitespace")) == ["Don't", "stop", ",", "now"]


def test_word_scores_take_the_best_token_pair_of_two_words():
    # A words: "ab" (tokens "a","b"), "c"; B words: "x", "yz" (tokens "y","z")
    a_tokens = np.array([[0, 1], [1, 2], [3, 4]])
    b_tokens = np.array([[0, 1], [2, 3], [3, 4]])
    a_words = np.array([[0, 2], [3, 4]])
    b_words = np.array([[0, 1], [2, 4]])
    token_scores = np.array([[0.1, 0.2, 0.9], [0.3, 0.0, 0.0], [0.0, 0.4, 0.5]], dtype=np.float32)
    np.testing.assert_allclose(word_scores(token_scores, a_tokens, b_tokens, a_words, b_words),
                               [[0.3, 0.9], [0.0, 0.5]])


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ab ,.", max_size=40), st.lists(st.tuples(st.integers(0, 40), st.integers(0, 6)), max_size=12))
def test_the_token_to_word_map_is_character_overlap(text, token_starts):
    """token_word_ranges (and the overlap matrix made from it) says exactly which words a token shares a character
    with, for any words word_spans makes and any tokens (empty ones share none)."""
    from mia.text.words import token_word_overlap, token_word_ranges

    spans = word_spans(text)
    tokens = np.array(sorted((start, min(start + length, len(text))) for start, length in token_starts
                             if start <= len(text)), dtype=np.int64).reshape(-1, 2)
    expected = np.array([[ts < we and te > ws and te > ts for ts, te in tokens] for ws, we in spans],
                        dtype=bool).reshape(len(spans), len(tokens))
    np.testing.assert_array_equal(token_word_overlap(tokens, spans), expected)
    first, last = token_word_ranges(tokens, spans)
    for t in range(len(tokens)):
        assert list(range(first[t], last[t] + 1)) == np.flatnonzero(expected[:, t]).tolist()
