"""edgekit.pipeline"""
