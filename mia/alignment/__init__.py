"""Linking the words of two texts of any length: windows and their candidates, decoding, phrases, passages."""
