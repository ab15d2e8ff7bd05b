"""Benchmarks for asyncsdk: one module per scenario, run by ``python -m benchmarks.run``.

Each scenario module exposes ``NAME``, ``TITLE`` and ``run(*, quick: bool) -> dict`` and also
runs alone (``python -m benchmarks.decode --quick``). Contenders run in their own subprocesses.
The SDK core never imports this package.
"""
