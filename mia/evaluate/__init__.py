"""mia.evaluate"""
