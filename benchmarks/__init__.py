"""Benchmarks for asyncsdk: one module per scenario, run by ``python -m benchmarks.run``.

The SDK core never imports this package; it may import anything.

Adding a scenario
-----------------

Write ``benchmarks/<name>.py`` and add ``"<name>"`` to ``SCENARIOS`` in
``benchmarks/run.py`` (the order there is the order on the page). The module defines:

* ``NAME`` (``"<name>"``: the result file, ``--only``) and ``TITLE`` (its heading);
* ``FULL`` and ``QUICK`` parameters: ``QUICK`` is the smoke run ``tests/test_benchmarks.py``
  runs for every scenario, a few seconds long;
* ``run(*, quick: bool) -> dict``: measures, then returns
  ``_harness.make_result(scenario=NAME, title=TITLE, description=..., parameters=...,
  results=..., ratios=..., targets=[target(...)], tables=[table(...)], chart=..., notes=[...])``;
* ``if __name__ == "__main__": scenario_main(run, _worker)``: it also runs alone
  (``python -m benchmarks.<name> --quick``), and ``--worker ARGS`` runs ``_worker(ARGS)``,
  the scenario's own child process, if it has one.

The page (``docs/benchmarks.md``), its bar chart and line charts are drawn from those keys
by `benchmarks._render`: a scenario writes no rendering code. What a scenario reaches for:

* timing a call in one process per contender, rounds interleaved: in the worker
  ``serve_timings({"case": fn})``, in ``run`` ``time_workers(module, keys, cases, ...)``
  (``decode``, ``webhook_verify``); or ``interleaved(keys, rounds)`` for any other loop;
* a one-shot child (``run_json``), a persistent one (``Worker``), a fleet released at once
  (``run_together``), a server that announces itself (``Announced``): `benchmarks._procs`;
* a server for the client to hit: the canned one that answers every GET at once
  (`benchmarks._canned`, ``client_cost``), or the embedded Bird server with its stats
  (``_lab.against``, ``ratelimit``), or with faults and limits (`benchmarks._situations`),
  or with recordings and their object store (`benchmarks._mediaserver`, ``media_*``);
* a ``redis-server`` of its own and free loopback ports (`benchmarks._redis`);
* ``summarize`` and ``paired_ratio`` (median, min-max; per-round ratios), ``held_bytes``,
  ``cpu_seconds``, ``rss_kb``, and ``fmt_range`` / ``fmt_ratio`` / ``grid`` for tables.

Rules: no target is asserted (``target`` reports); every loop is bounded in count and
time; loopback only; peers are measured in the same run as the SDK, each in its own
process, and compared by per-round ratios.
"""
