"""mia.detector"""
