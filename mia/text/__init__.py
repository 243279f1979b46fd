"""mia.text"""
