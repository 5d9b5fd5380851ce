"""One room per external API (api/dialects/<name>/): its routes, auth, output shaping and error format.

The registry (api/dialects/registry.py) lists them; dialects never import one another.
"""
