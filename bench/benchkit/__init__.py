"""Shared pieces of the benchmarks in ``bench/``: the imgsrc server as a real subprocess, its API, peer commands
measured the same way, the cached generated layers, and the report (table + JSON).

The benchmark scripts put ``bench/`` (their own directory) and the repository root on ``sys.path``, so this package
imports as ``benchkit`` and the test helpers as ``tests.support``.
"""
