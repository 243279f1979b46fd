import numpy as np

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
