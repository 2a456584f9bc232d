"""edgekit.models"""
