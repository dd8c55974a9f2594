"""Sample applications the notebooks and tests copy in as ``app.py``."""
