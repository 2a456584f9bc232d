"""edgekit.report"""
