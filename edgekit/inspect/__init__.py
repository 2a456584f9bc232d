"""edgekit.inspect"""
