"""mia.models"""
