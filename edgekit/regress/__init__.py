"""edgekit.regress"""
