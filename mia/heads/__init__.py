"""mia.heads"""
