"""The load and soak run (`python -m bench.load`, `make load`); its entry point is `__main__`."""
