"""The book's benchmarks: ``python -m benchmarks`` (see ``__main__``), and the measuring script
of the appendix "Is the async env.py slower?" (``envpy_phases.py``)."""
