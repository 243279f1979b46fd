"""mia.report"""
